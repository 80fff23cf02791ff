FROM busybox
ARG NAME=world
RUN <<EOF
echo hello $NAME
echo second line
EOF
RUN <<EOT
#!/usr/bin/env python3
print("from a script")
EOT
RUN cat <<EOF > /greeting && cat /greeting
hi $NAME
EOF
RUN <<-EOF
	echo chomped tabs
	EOF
COPY <<EOF /etc/unquoted.conf
name=$NAME "quotes" \kept
EOF
COPY <<"EOF" /etc/quoted.conf
name=$NAME
EOF
COPY <<one.txt <<two.txt /files/
first ${NAME}
one.txt
second
two.txt
