# escape=`

FROM busybox
# a comment between instructions
ENV DIR=C:\data `
    OTHER=x
RUN echo one `
    two `
    # a comment inside a continuation
    three
COPY a\b.txt `
     /dest/
