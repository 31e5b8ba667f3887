FROM scratch
# Set by build.sh: the same version the binary prints (`lifecycle version`).
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="lifecycle" \
      org.opencontainers.image.description="asynq workers that delete, erase and merge user data" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/lifecycle-worker/lifecycle"
COPY lifecycle /lifecycle
# scratch has no /etc/passwd: the user is a number. 65532 is distroless's
# "nonroot"; the file store and /tmp belong to it, and a named volume
# mounted on /data takes this ownership when it is first created.
COPY --chown=65532:65532 data /data
COPY --chown=65532:65532 tmp /tmp
USER 65532:65532
ENV LIFECYCLE_STORAGE=file:///data
# No shell, no curl: the binary probes its own /healthz, on the port
# LIFECYCLE_HTTP_ADDR names. The scheduler serves no HTTP; compose and
# Kubernetes turn the check off for it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/lifecycle", "healthcheck"]
ENTRYPOINT ["/lifecycle"]
CMD ["worker"]
