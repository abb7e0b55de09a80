// Package deploy holds the files that run EventOps outside `make dev`, and
// the tests that check them on a machine without a Docker engine or a
// Kubernetes cluster:
//
//   - Dockerfile (with Dockerfile.dockerignore): a static binary on distroless,
//     non-root, with a HEALTHCHECK that runs `eventops healthcheck`. The test
//     runs the Dockerfile's own `go build` line (parsed from the file, not
//     copied) and checks the result is a static ELF that prints the version.
//   - docker-compose.yml: Redpanda (with its schema registry), the one-shot
//     topics-init (rpk) and migrate, PostgreSQL 16, three processing
//     replicas and the API. The test decodes it into typed structs (unknown
//     keys fail) and checks services, ports, volumes, health checks and start
//     order; that every `rpk topic create` is exactly a topic of
//     tables.DefaultLayout(); and that every eventops command, flag and
//     variable exists in the binary, whose own loader accepts each service's
//     configuration.
//   - kubernetes/: Deployments, a Service, a ConfigMap (settings and rules), a
//     Secret (API keys), Jobs for migrations and topics, PodDisruptionBudgets
//     and a kustomization.yaml. The test decodes every manifest strictly into
//     the official API types (an unknown or misspelled field fails) and checks
//     probes, grace periods, security contexts, resources, references between
//     objects, and the rules with rules.Parse.
//
// Each check is also run against deliberately broken copies of the files, so
// a check that stops catching its mistake fails too. Nothing in this package
// is imported by the binary.
package deploy
