FROM busybox AS tools
FROM busybox
ARG DIR=/root/.cache
RUN --mount=type=cache,target=$DIR,sharing=locked,uid=1000,mode=0700 --network=none go build
RUN --mount=type=bind,from=tools,source=/bin,target=/t --mount=type=tmpfs,target=/tmp,size=1m ls /t
