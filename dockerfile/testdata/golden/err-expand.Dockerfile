FROM busybox
ARG DEST
COPY app ${DEST:?required}
