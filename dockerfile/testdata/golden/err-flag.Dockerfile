FROM busybox
COPY --own=1 a /b
