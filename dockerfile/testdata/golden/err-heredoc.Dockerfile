FROM busybox
RUN <<EOF
echo never terminated
