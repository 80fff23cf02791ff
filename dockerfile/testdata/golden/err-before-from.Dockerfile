# comment
RUN echo no stage yet
FROM busybox
