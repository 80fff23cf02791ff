# ARG scoping: global ARGs, redeclaration, defaults, --build-arg, ENV over ARG,
# predefined proxy args.
# test: build-arg VERSION=2
# test: build-arg HTTP_PROXY=http://proxy:3128
# test: build-arg UNUSED=1
# test: build-arg FLAVOR=slim
ARG BASE=busybox
ARG TAG=latest-${FLAVOR}
ARG VERSION=1
ARG ONLYGLOBAL=g
FROM ${BASE}:${TAG}
RUN echo "global args are not visible: [$VERSION] [$ONLYGLOBAL]"
ARG VERSION
RUN echo "redeclared: $VERSION"
ARG LOCAL=default-$VERSION
ENV LOCAL=from-env
RUN echo "env wins: $LOCAL, proxy: $HTTP_PROXY"
ARG HTTP_PROXY
RUN echo declared proxy
ARG A=1 B=$A
ENV E1=$A E2=$E1
LABEL v=$VERSION b=$B e2=$E2
