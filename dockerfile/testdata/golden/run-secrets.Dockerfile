FROM busybox
RUN --mount=type=secret,id=tok --mount=type=secret,target=/etc/pw,required cat /run/secrets/tok /etc/pw
