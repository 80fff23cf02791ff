# test: target nope
FROM busybox AS build
FROM build
