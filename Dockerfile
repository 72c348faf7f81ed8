# syntax=docker/dockerfile:1
# Image of the siptrunk-operator controller.
#   docker build -t siptrunk-operator:0.1.0 .
# The chart runs /siptrunk-operator as UID 65532 with a read-only root
# filesystem; tests/chart/test_dockerfile.py keeps the two in agreement.
# --no-default-features leaves the stand-ins (provider emulator, Kubernetes API emulation,
# demo, bench) out of the image.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --bin siptrunk-operator \
 && install -D -m 0755 target/release/siptrunk-operator /out/siptrunk-operator

# glibc + libgcc + CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/siptrunk-operator /siptrunk-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/siptrunk-operator"]
CMD ["run"]
