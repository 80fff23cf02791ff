FROM busybox
RUN --mount=type=ssh git clone git@example.com:x/y
