# syntax=docker/dockerfile:1
# The dmrnet container image: a static binary on an empty base, run as a non-root user.
#
#   docker build -t dmrnet:latest .
#   docker run --rm -v "$PWD/runs:/work/runs" dmrnet:latest train --config /work/configs/quickstart.yaml
#
# `dmrnet sweep --emit k8s` names this image (dmrnet:latest, or dmrnet:<version> for a
# release build; --image for another). The build stage's go build line is the one
# TestDockerfileBuildsAStaticBinary runs.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# static (no cgo, so no libc), reproducible paths; the version dmrnet reports comes from Go's
# build information (.git is not in the build context, so it says (devel))
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/dmrnet ./cmd/dmrnet

FROM scratch
COPY --from=build /out/dmrnet /usr/local/bin/dmrnet
# an empty base has no PATH: set it so that Kubernetes' command ["dmrnet"] finds the binary
ENV PATH=/usr/local/bin
# the runs and data directories are mounted here; 65532 is the usual non-root user
WORKDIR /work
USER 65532:65532
ENTRYPOINT ["dmrnet"]
CMD ["--help"]
