// Package deploy holds what runs cnngpu on clusters: the container build
// file (Dockerfile), Kubernetes manifests (k8s/) and Slurm scripts
// (slurm/); docs/cluster.md says how to use them. Its only Go code is the
// test that checks them: the manifests decoded strictly into the
// Kubernetes API types, the scripts' structure, the image built where a
// container builder runs. (The cnngpu command lines in them are parsed by
// cmd/cnngpu's deploy_test.go, with the CLI's own flag parsing.)
package deploy
