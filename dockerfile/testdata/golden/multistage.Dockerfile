# The multi-stage build of transcript 02f, with --build-arg GREETING=howdy.
# test: build-arg GREETING=howdy
FROM busybox AS base
ARG GREETING=hello
RUN echo "$GREETING" > /greeting

FROM base AS second
RUN cat /greeting > /copy

FROM busybox AS final
COPY --from=second /copy /copy
CMD ["cat","/copy"]
