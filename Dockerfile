# Multi-stage build: a static binary on distroless (CA certificates, non-root).
# Not exercised by CI (no Docker engine there); kept simple and standard.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/basketassist ./cmd/basketassist

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/basketassist /basketassist
USER nonroot:nonroot
EXPOSE 8080
ENV BASKETASSIST_WEB_LISTEN=0.0.0.0:8080
ENTRYPOINT ["/basketassist"]
CMD ["--config", "/etc/basketassist/basketassist.yaml", "serve"]
