FROM busybox
CMD ["echo", 1]
ENTRYPOINT ["sh", "-c"
