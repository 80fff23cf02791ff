FROM busybox
RUN --mount=type=secret,id=x cat /run/secrets/x
