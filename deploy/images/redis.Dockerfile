FROM scratch
COPY . /
WORKDIR /data
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/usr/bin/redis-cli", "ping"]
# Debian's redis keeps protected mode on; it belongs in the ENTRYPOINT because
# testcontainers' redis options replace CMD.
ENTRYPOINT ["/usr/bin/redis-server", "--protected-mode", "no", "--bind", "0.0.0.0"]
CMD ["--save", "", "--appendonly", "no"]
