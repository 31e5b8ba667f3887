FROM scratch
COPY lifecycle /lifecycle
COPY data /data
COPY tmp /tmp
ENV LIFECYCLE_STORAGE=file:///data
ENTRYPOINT ["/lifecycle"]
CMD ["worker"]
