// Package k8s holds the Kustomize manifests of lifecycle (base and
// overlays) and the test that checks them: no cluster runs here, so the
// test renders each overlay as kubectl would, decodes every object strictly
// into the Kubernetes API types, and holds the result against the binary.
package k8s

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/lifecycle-worker/lifecycle/internal/api"
	"github.com/lifecycle-worker/lifecycle/internal/config"
)

// rendered is one overlay, decoded.
type rendered struct {
	deployments map[string]*appsv1.Deployment
	configMaps  map[string]*corev1.ConfigMap
	services    map[string]*corev1.Service
	pdbs        map[string]*policyv1.PodDisruptionBudget
}

// render builds an overlay with kustomize and decodes each object into its
// k8s.io/api type; a field the type does not have fails the test, as the
// API server would refuse it.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := rendered{map[string]*appsv1.Deployment{}, map[string]*corev1.ConfigMap{}, map[string]*corev1.Service{}, map[string]*policyv1.PodDisruptionBudget{}}
	for _, res := range resources.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			t.Fatal(err)
		}
		var obj any
		switch kind := res.GetKind(); kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			r.deployments[res.GetName()], obj = d, d
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			// Generated names carry a content hash: key by the base name.
			r.configMaps[strings.TrimSuffix(res.GetName(), "-"+hashSuffix(res.GetName()))], obj = c, c
		case "Service":
			s := &corev1.Service{}
			r.services[res.GetName()], obj = s, s
		case "PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			r.pdbs[res.GetName()], obj = p, p
		default:
			t.Fatalf("%s: %s %s: a kind this test does not check", dir, kind, res.GetName())
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			t.Errorf("%s: %s %s: %v", dir, res.GetKind(), res.GetName(), err)
		}
	}
	return r
}

func hashSuffix(name string) string { return name[strings.LastIndex(name, "-")+1:] }

// served is what a lifecycle HTTP server answers at path: the probes must
// name routes that exist and answer 200 when the process is well.
func served(t *testing.T, path string) int {
	h := api.New(api.Params{Redis: okPinger{}, Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop()})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

type okPinger struct{}

func (okPinger) Ping(context.Context) error { return nil }

func TestOverlays(t *testing.T) {
	known := config.Variables()
	for _, tt := range []struct {
		overlay   string
		redisURL  string
		wantKinds string
	}{
		{"overlays/single-redis", "redis://redis:6379", "3 deployments, 1 service, 1 pdb, 1 configmap"},
		{"overlays/sentinel", "redis-sentinel://", "3 deployments, 1 service, 1 pdb, 1 configmap"},
	} {
		t.Run(tt.overlay, func(t *testing.T) {
			r := render(t, tt.overlay)
			got := fmt.Sprintf("%d deployments, %d service, %d pdb, %d configmap", len(r.deployments), len(r.services), len(r.pdbs), len(r.configMaps))
			if diff := cmp.Diff(tt.wantKinds, got); diff != "" {
				t.Fatalf("objects (-want +got):\n%s", diff)
			}
			cm := r.configMaps["lifecycle-config"]
			if cm == nil {
				t.Fatal("no ConfigMap lifecycle-config")
			}
			// The settings must parse as the binary parses them.
			for _, g := range []config.Group{config.GroupRedis | config.GroupHTTP | config.GroupWorker | config.GroupLog | config.GroupStorage} {
				if _, err := config.LoadEnv(g, func(k string) string { return cm.Data[k] }); err != nil {
					t.Errorf("ConfigMap lifecycle-config: %v", err)
				}
			}
			if !strings.HasPrefix(cm.Data["LIFECYCLE_REDIS_URL"], tt.redisURL) {
				t.Errorf("LIFECYCLE_REDIS_URL = %q, want %s...", cm.Data["LIFECYCLE_REDIS_URL"], tt.redisURL)
			}
			for k := range cm.Data {
				if !slices.Contains(known, k) {
					t.Errorf("ConfigMap sets %s, which lifecycle does not read", k)
				}
			}
			shutdown := config.ShutdownTimeoutDefault
			if v := cm.Data["LIFECYCLE_SHUTDOWN_TIMEOUT"]; v != "" {
				shutdown, _ = time.ParseDuration(v)
			}
			_, httpPort, _ := net.SplitHostPort(cm.Data["LIFECYCLE_HTTP_ADDR"])

			for name, d := range r.deployments {
				spec := d.Spec.Template.Spec
				for _, c := range spec.Containers {
					for _, e := range c.Env {
						if strings.HasPrefix(e.Name, "LIFECYCLE_") && !slices.Contains(known, e.Name) {
							t.Errorf("%s: env %s, which lifecycle does not read", name, e.Name)
						}
					}
					role := c.Args[0]
					if role == "scheduler" {
						continue // serves no HTTP
					}
					ports := map[string]int32{}
					for _, p := range c.Ports {
						ports[p.Name] = p.ContainerPort
					}
					for probe, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
						if p == nil || p.HTTPGet == nil {
							t.Errorf("%s: no HTTP %s probe", name, probe)
							continue
						}
						port := p.HTTPGet.Port.IntVal
						if p.HTTPGet.Port.StrVal != "" {
							port = ports[p.HTTPGet.Port.StrVal]
						}
						if fmt.Sprint(port) != httpPort {
							t.Errorf("%s: %s probe on port %d; lifecycle listens on %s (LIFECYCLE_HTTP_ADDR)", name, probe, port, httpPort)
						}
						if code := served(t, p.HTTPGet.Path); code != http.StatusOK {
							t.Errorf("%s: %s probe GET %s: lifecycle answers %d", name, probe, p.HTTPGet.Path, code)
						}
					}
					if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
						t.Errorf("%s: no CPU or memory request", name)
					}
				}
				if role := spec.Containers[0].Args[0]; role == "worker" {
					grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
					if grace <= shutdown {
						t.Errorf("%s: terminationGracePeriodSeconds %v is not longer than LIFECYCLE_SHUTDOWN_TIMEOUT %v: running tasks are killed", name, grace, shutdown)
					}
					if *d.Spec.Replicas < 2 {
						t.Errorf("%s: %d replicas; workers scale out", name, *d.Spec.Replicas)
					}
					covered := false
					for _, p := range r.pdbs {
						covered = covered || cmp.Equal(p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
					}
					if !covered {
						t.Errorf("%s: no PodDisruptionBudget selects its pods", name)
					}
				}
			}
			if svc := r.services["lifecycle-api"]; svc == nil || !cmp.Equal(svc.Spec.Selector, r.deployments["lifecycle-api"].Spec.Selector.MatchLabels) {
				t.Error("Service lifecycle-api does not select the API's pods")
			}
		})
	}
}
