FROM scratch
# Debian's redis-sentinel and redis-cli with their libraries (build.sh).
COPY . /
WORKDIR /data
EXPOSE 26379
# Sentinel rewrites its configuration file as it learns the replicas and the
# other sentinels: each container starts from this copy, its own.
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/usr/bin/redis-cli", "-p", "26379", "ping"]
ENTRYPOINT ["/usr/bin/redis-sentinel", "/data/sentinel.conf"]
