# Every instruction once, in the order a real Dockerfile might use them.
FROM busybox:1.36 AS base
MAINTAINER Jane Doe <jane@example.com>
LABEL org.opencontainers.image.title="demo app" version=1.0
ENV APP=/app NAME="hello world"
ENV LEGACY old syntax value
ARG PORT=8080
WORKDIR $APP
WORKDIR src
RUN echo building in "$PWD" \
    && mkdir -p /data
RUN ["/bin/echo", "exec", "form"]
COPY --chown=1000:1000 --chmod=644 main.go go.* ./
ADD https://example.com/archive.tar.gz /tmp/
ADD local.tar ${APP}/vendor/
EXPOSE ${PORT} 9090/udp
USER ${NAME%% *}:staff
VOLUME ["/data", "$APP/cache"]
VOLUME /logs
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD wget -q -O- http://localhost:$PORT/ || exit 1
ONBUILD COPY . /src
ONBUILD RUN make
SHELL ["/bin/bash", "-eu", "-c"]
RUN echo "$SHELL" && echo $PORT
ENTRYPOINT ["/app/server"]
CMD serve --port 8080
