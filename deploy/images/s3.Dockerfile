FROM scratch
COPY versitygw /versitygw
COPY data /data
COPY tmp /tmp
ENV VGW_HEALTH=/health
EXPOSE 7070
ENTRYPOINT ["/versitygw", "--port", ":7070"]
CMD ["posix", "/data"]
