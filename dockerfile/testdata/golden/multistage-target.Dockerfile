# --target selects a stage and the stages it needs; unneeded ones are skipped.
# test: target Build
ARG GO=1.22
FROM golang:${GO} AS deps
RUN go mod download

FROM alpine AS unused
RUN echo never

FROM deps AS build
COPY --from=0 /go/pkg /go/pkg
COPY --from=registry.example.com/tools:1 /bin/tool /usr/bin/
RUN go build -o /out/app

FROM scratch
COPY --from=build /out/app /app
