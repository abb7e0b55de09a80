package deploy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// kustomization is the part of kustomize's Kustomization the directory
// uses, decoded strictly.
type kustomization struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Namespace  string `yaml:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `yaml:"pairs"`
		IncludeSelectors bool              `yaml:"includeSelectors"`
		IncludeTemplates bool              `yaml:"includeTemplates"`
	} `yaml:"labels"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
		Digest  string `yaml:"digest"`
	} `yaml:"images"`
}

// k8sDecoder decodes manifests into the official API types, strictly: an
// unknown field, a field in the wrong case, a duplicate field or a value of
// the wrong type is an error, as `kubectl apply --validate=strict` makes it.
func k8sDecoder() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}

// cluster is what the manifests declare, by kind and name.
type cluster struct {
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    []*corev1.Service
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	pdbs        []*policyv1.PodDisruptionBudget
}

func decodeManifests(dir map[string]string) (*cluster, kustomization, problems) {
	var p problems
	var k kustomization
	dec := yaml.NewDecoder(strings.NewReader(dir["kustomization.yaml"]))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return nil, k, problems{"kustomization.yaml: " + err.Error()}
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		p.add("kustomization.yaml: %s %s: want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	for _, l := range k.Labels {
		if l.IncludeSelectors {
			p.add("kustomization.yaml: labels with includeSelectors change Deployment selectors, which cannot change once applied")
		}
	}
	var files []string
	for name := range dir {
		if name != "kustomization.yaml" {
			files = append(files, name)
		}
	}
	slices.Sort(files)
	if got := slices.Sorted(slices.Values(k.Resources)); !slices.Equal(got, files) {
		p.add("kustomization.yaml: resources %q, the directory has %q", got, files)
	}
	c := &cluster{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	decode := k8sDecoder()
	for _, file := range k.Resources {
		text, ok := dir[file]
		if !ok {
			continue
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
		for n := 1; ; n++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				p.add("%s: %v", file, err)
				break
			}
			var any map[string]any
			if yaml.Unmarshal(doc, &any) == nil && len(any) == 0 {
				continue // comments only
			}
			obj, gvk, err := decode.Decode(doc, nil, nil)
			if err != nil {
				p.add("%s (document %d): %v", file, n, err)
				continue
			}
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				c.configMaps[o.Name] = o
			case *corev1.Secret:
				c.secrets[o.Name] = o
			case *corev1.Service:
				c.services = append(c.services, o)
			case *appsv1.Deployment:
				c.deployments = append(c.deployments, o)
			case *batchv1.Job:
				c.jobs = append(c.jobs, o)
			case *policyv1.PodDisruptionBudget:
				c.pdbs = append(c.pdbs, o)
			default:
				p.add("%s: %s is not a kind these manifests should hold", file, gvk)
			}
		}
	}
	return c, k, p
}

func (c *cluster) secretValue(name, key string) (string, bool) {
	s := c.secrets[name]
	if s == nil {
		return "", false
	}
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	v, ok := s.Data[key]
	return string(v), ok
}

func (c *cluster) configMapValue(name, key string) (string, bool) {
	m := c.configMaps[name]
	if m == nil {
		return "", false
	}
	v, ok := m.Data[key]
	return v, ok
}

// file returns what a container reads at a path: the key of the ConfigMap
// or Secret mounted there.
func (c *cluster) file(spec *corev1.PodSpec, ctr *corev1.Container, file string) (string, string, error) {
	var best *corev1.VolumeMount
	for i, m := range ctr.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &ctr.VolumeMounts[i]
		}
	}
	if best == nil {
		return "", "", fmt.Errorf("%s is on no volume mount", file)
	}
	rel := strings.TrimPrefix(file, strings.TrimSuffix(best.MountPath, "/")+"/")
	for _, v := range spec.Volumes {
		if v.Name != best.Name {
			continue
		}
		key := func(items []corev1.KeyToPath) string {
			if len(items) == 0 {
				return rel
			}
			for _, it := range items {
				if it.Path == rel {
					return it.Key
				}
			}
			return ""
		}
		switch {
		case v.ConfigMap != nil:
			k := key(v.ConfigMap.Items)
			if val, ok := c.configMapValue(v.ConfigMap.Name, k); ok {
				return val, fmt.Sprintf("ConfigMap %s key %s", v.ConfigMap.Name, k), nil
			}
			return "", "", fmt.Errorf("%s: ConfigMap %s has no key %q", file, v.ConfigMap.Name, k)
		case v.Secret != nil:
			k := key(v.Secret.Items)
			if val, ok := c.secretValue(v.Secret.SecretName, k); ok {
				return val, fmt.Sprintf("Secret %s key %s", v.Secret.SecretName, k), nil
			}
			return "", "", fmt.Errorf("%s: Secret %s has no key %q", file, v.Secret.SecretName, k)
		}
		return "", "", fmt.Errorf("%s is on volume %s, which is no ConfigMap or Secret", file, v.Name)
	}
	return "", "", fmt.Errorf("%s: volume %s is not declared", file, best.Name)
}

// pod is a pod template with where it comes from.
type pod struct {
	where  string
	labels map[string]string
	spec   *corev1.PodSpec
}

// container is one eventops container, understood: what it runs and with
// which settings.
type container struct {
	pod
	c        *corev1.Container
	cmd      string
	set      map[string]string
	httpPort int32
}

func selects(sel map[string]string, pod map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(pod))
}

// checkKubernetes checks deploy/kubernetes: the files of the directory by
// name, with the Dockerfile that makes the image they run.
func checkKubernetes(dir map[string]string, dockerText string, e *eventops, layout tables.Layout) []string {
	c, k, p := decodeManifests(dir)
	if c == nil {
		return p
	}
	imgEnv, entry, err := imageConfig(dockerText)
	if err != nil {
		return append(p, "deploy/Dockerfile: "+err.Error())
	}
	images := map[string]bool{}
	for _, im := range k.Images {
		images[im.Name] = true
	}

	var pods []pod
	for _, d := range c.deployments {
		where := "Deployment " + d.Name
		if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) || len(d.Spec.Selector.MatchExpressions) > 0 {
			p.add("%s: the selector does not select its own pod template's labels", where)
		}
		pods = append(pods, pod{where, d.Spec.Template.Labels, &d.Spec.Template.Spec})
	}
	for _, j := range c.jobs {
		where := "Job " + j.Name
		if rp := j.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
			p.add("%s: restartPolicy %q: want OnFailure or Never", where, rp)
		}
		if j.Spec.BackoffLimit == nil {
			p.add("%s: no backoffLimit", where)
		}
		if j.Spec.TTLSecondsAfterFinished == nil {
			p.add("%s: no ttlSecondsAfterFinished: a finished Job stays, and the next apply cannot change it (its template is immutable)", where)
		}
		pods = append(pods, pod{where, j.Spec.Template.Labels, &j.Spec.Template.Spec})
	}

	var ctrs []container
	for _, pd := range pods {
		sc := pd.spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			p.add("%s: want securityContext runAsNonRoot: true and a non-zero runAsUser", pd.where)
		}
		vols := map[string]*corev1.Volume{}
		for i, v := range pd.spec.Volumes {
			vols[v.Name] = &pd.spec.Volumes[i]
			if v.ConfigMap != nil {
				for _, it := range v.ConfigMap.Items {
					if _, ok := c.configMapValue(v.ConfigMap.Name, it.Key); !ok {
						p.add("%s: volume %s: ConfigMap %s has no key %s", pd.where, v.Name, v.ConfigMap.Name, it.Key)
					}
				}
				if c.configMaps[v.ConfigMap.Name] == nil {
					p.add("%s: volume %s: no ConfigMap %s", pd.where, v.Name, v.ConfigMap.Name)
				}
			}
			if v.Secret != nil {
				for _, it := range v.Secret.Items {
					if _, ok := c.secretValue(v.Secret.SecretName, it.Key); !ok {
						p.add("%s: volume %s: Secret %s has no key %s", pd.where, v.Name, v.Secret.SecretName, it.Key)
					}
				}
				if c.secrets[v.Secret.SecretName] == nil {
					p.add("%s: volume %s: no Secret %s", pd.where, v.Name, v.Secret.SecretName)
				}
			}
		}
		for i := range pd.spec.Containers {
			ctr := &pd.spec.Containers[i]
			where := pd.where + " container " + ctr.Name
			if !images[ctr.Image] {
				p.add("%s: image %q is not under kustomization.yaml's images: `kustomize edit set image` would not reach it", where, ctr.Image)
			}
			// Resources: requests and limits of CPU and memory.
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := ctr.Resources.Requests[r]
				lim, okLim := ctr.Resources.Limits[r]
				if !okReq || !okLim || req.IsZero() || lim.IsZero() {
					p.add("%s: want requests and limits of %s", where, r)
				} else if req.Cmp(lim) > 0 {
					p.add("%s: %s request %s is above its limit %s", where, r, req.String(), lim.String())
				}
			}
			csc := ctr.SecurityContext
			if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
				csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
				csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
				p.add("%s: want securityContext allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities drop ALL", where)
			}
			if csc != nil && csc.RunAsUser != nil && *csc.RunAsUser == 0 {
				p.add("%s: runs as user 0", where)
			}
			for _, m := range ctr.VolumeMounts {
				if vols[m.Name] == nil {
					p.add("%s: mounts volume %s, which the pod does not declare", where, m.Name)
				}
			}
			// The environment, with references resolved.
			env := map[string]string{}
			for _, ev := range ctr.Env {
				if _, dup := env[ev.Name]; dup {
					p.add("%s: %s is set twice", where, ev.Name)
				}
				switch vf := ev.ValueFrom; {
				case vf == nil:
					env[ev.Name] = ev.Value
				case vf.SecretKeyRef != nil:
					v, ok := c.secretValue(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
					if !ok {
						p.add("%s: %s: Secret %s has no key %s", where, ev.Name, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
					}
					env[ev.Name] = v
				case vf.ConfigMapKeyRef != nil:
					v, ok := c.configMapValue(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key)
					if !ok {
						p.add("%s: %s: ConfigMap %s has no key %s", where, ev.Name, vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key)
					}
					env[ev.Name] = v
				case vf.FieldRef != nil:
					env[ev.Name] = "from-" + vf.FieldRef.FieldPath
				default:
					env[ev.Name] = "1"
				}
			}
			if v, ok := env["GOMEMLIMIT"]; ok {
				q, err := resource.ParseQuantity(strings.TrimSuffix(v, "B"))
				lim := ctr.Resources.Limits[corev1.ResourceMemory]
				if err != nil || q.Cmp(lim) >= 0 {
					p.add("%s: GOMEMLIMIT %s: want a size below the memory limit %s", where, v, lim.String())
				}
			}
			if len(ctr.Command) > 0 && !slices.Equal(ctr.Command, entry) {
				p.add("%s: command %q replaces the image's entrypoint %q", where, ctr.Command, entry)
			}
			inv := invocation{where: where, args: ctr.Args, image: imgEnv, env: env}
			if f, ok := env["EVENTOPS_CONFIG"]; ok {
				text, name, err := c.file(pd.spec, ctr, f)
				if err != nil {
					p.add("%s: EVENTOPS_CONFIG: %v", where, err)
				} else {
					inv.configName, inv.config = name, []byte(text)
				}
			}
			cmd, set, ip := e.settings(inv)
			p = append(p, ip...)
			if set == nil {
				continue
			}
			p = append(p, e.accepts(inv)...)
			ct := container{pod: pd, c: ctr, cmd: cmd, set: set}
			if _, port, err := net.SplitHostPort(set["http_addr"]); err == nil {
				n, _ := strconv.Atoi(port)
				ct.httpPort = int32(n)
			}
			ctrs = append(ctrs, ct)
		}
	}

	// What each command needs.
	var processors, apis []container
	cmds := map[string]int{}
	replication := map[string]bool{}
	for _, ct := range ctrs {
		cmds[ct.cmd]++
		where := ct.where + " container " + ct.c.Name
		if ct.cmd == "run" || ct.cmd == "migrate" {
			if u, err := url.Parse(ct.set["database_url"]); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
				p.add("%s: database_url %q is not a postgres:// URL", where, ct.set["database_url"])
			}
		}
		if ct.cmd == "run" || ct.cmd == "topics" {
			if ct.set["brokers"] == "" {
				p.add("%s: no brokers", where)
			}
			if ct.set["partitions"] != fmt.Sprint(layout.Partitions) {
				p.add("%s: partitions %s, tables.DefaultLayout() says %d", where, ct.set["partitions"], layout.Partitions)
			}
			replication[ct.set["replication"]] = true
		}
		if ct.cmd != "run" {
			continue
		}
		stages := stagesOf(ct.set)
		switch {
		case !slices.ContainsFunc([]string{"ingest", "features", "sink", "notify"}, func(s string) bool { return !slices.Contains(stages, s) }):
			processors = append(processors, ct)
		case slices.Contains(stages, "api"):
			apis = append(apis, ct)
		}
		// Probes: /readyz and /healthz of the api stage, on the port it
		// listens on.
		if !slices.Contains(stages, "api") {
			p.add("%s: stages %q: only the api stage serves HTTP, so the probes would never answer", where, stages)
		}
		probe := func(kind, want string, pr *corev1.Probe, required bool) {
			if pr == nil {
				if required {
					p.add("%s: no %s probe", where, kind)
				}
				return
			}
			g := pr.HTTPGet
			if g == nil || g.Path != want {
				p.add("%s: %s probe %+v: want httpGet %s", where, kind, pr.ProbeHandler, want)
				return
			}
			port := int32(-1)
			for _, cp := range ct.c.Ports {
				if (g.Port.Type == intstr.String && cp.Name == g.Port.StrVal) || (g.Port.Type == intstr.Int && cp.ContainerPort == g.Port.IntVal) {
					port = cp.ContainerPort
				}
			}
			if port != ct.httpPort {
				p.add("%s: %s probe on port %s, which is container port %d; eventops listens on %d (http_addr %s)", where, kind, g.Port.String(), port, ct.httpPort, ct.set["http_addr"])
			}
		}
		probe("readiness", "/readyz", ct.c.ReadinessProbe, true)
		probe("liveness", "/healthz", ct.c.LivenessProbe, true)
		probe("startup", "/healthz", ct.c.StartupProbe, false)
		// The grace period covers the drain.
		bound, err := drainBound(ct.set["shutdown_timeout"])
		if g := ct.spec.TerminationGracePeriodSeconds; err != nil || g == nil || *g < int64(bound.Seconds()) {
			p.add("%s: terminationGracePeriodSeconds %v: want at least %s (3 × shutdown_timeout %s + 5 s)", where, ptrValue(g), bound, ct.set["shutdown_timeout"])
		}
		// The data directory is writable.
		writable := false
		for _, m := range ct.c.VolumeMounts {
			if m.MountPath == ct.set["data_dir"] && !m.ReadOnly {
				for _, v := range ct.spec.Volumes {
					if v.Name == m.Name && (v.EmptyDir != nil || v.PersistentVolumeClaim != nil || v.Ephemeral != nil) {
						writable = true
					}
				}
			}
		}
		if !writable {
			p.add("%s: data_dir %s is not a writable volume (emptyDir or a claim): the root filesystem is read-only", where, ct.set["data_dir"])
		}
		// The rules it loads parse.
		if f := ct.set["rules"]; f != "" {
			text, name, err := c.file(ct.spec, ct.c, f)
			if err != nil {
				p.add("%s: rules: %v", where, err)
			} else if _, err := rules.Parse(name, []byte(text), rules.Options{}); err != nil {
				p.add("%s: rules %s: %v", where, name, err)
			}
		}
		// A Service exposes the API: keys, never auth none.
		if ct.set["auth"] != "keys" {
			p.add("%s: auth %q: want keys (the API is reachable in the cluster)", where, ct.set["auth"])
		}
		if text, name, err := c.file(ct.spec, ct.c, ct.set["api_keys_file"]); err != nil {
			p.add("%s: api_keys_file: %v", where, err)
		} else if _, err := api.ParseKeys(strings.NewReader(text), name); err != nil {
			p.add("%s: api_keys_file: %v", where, err)
		}
	}
	if len(replication) > 1 {
		p.add("the containers disagree on replication: %v", replication)
	}
	for _, need := range []string{"run", "migrate", "topics"} {
		if cmds[need] == 0 {
			p.add("no container runs eventops %s", need)
		}
	}
	for _, d := range c.deployments {
		for _, ct := range processors {
			if ct.spec == &d.Spec.Template.Spec && (d.Spec.Replicas == nil || *d.Spec.Replicas != 3) {
				p.add("Deployment %s: %v replicas of the processing stages: want 3", d.Name, ptrValue(d.Spec.Replicas))
			}
		}
	}
	if len(processors) == 0 {
		p.add("no Deployment runs the ingest, features, sink and notify stages")
	}
	if len(apis) == 0 {
		p.add("no Deployment runs the API on its own")
	}

	// The Service sends to the API replicas, on their http port.
	served := 0
	for _, s := range c.services {
		where := "Service " + s.Name
		for _, ct := range processors {
			if selects(s.Spec.Selector, ct.labels) {
				p.add("%s selects the processing replicas (%s): it is for the API replicas", where, ct.where)
			}
		}
		for _, ct := range apis {
			if !selects(s.Spec.Selector, ct.labels) {
				continue
			}
			served++
			for _, sp := range s.Spec.Ports {
				port := int32(-1)
				for _, cp := range ct.c.Ports {
					if (sp.TargetPort.Type == intstr.String && cp.Name == sp.TargetPort.StrVal) || (sp.TargetPort.Type == intstr.Int && cp.ContainerPort == sp.TargetPort.IntVal) {
						port = cp.ContainerPort
					}
				}
				if port != ct.httpPort {
					p.add("%s: port %s targets %s, which is container port %d of %s; eventops listens on %d", where, sp.Name, sp.TargetPort.String(), port, ct.where, ct.httpPort)
				}
			}
		}
	}
	if served == 0 {
		p.add("no Service selects the API replicas")
	}
	for _, b := range c.pdbs {
		n := 0
		for _, pd := range pods {
			if b.Spec.Selector != nil && selects(b.Spec.Selector.MatchLabels, pd.labels) {
				n++
			}
		}
		if n == 0 {
			p.add("PodDisruptionBudget %s selects no pods", b.Name)
		}
	}
	return p
}

func ptrValue[T any](v *T) any {
	if v == nil {
		return "unset"
	}
	return *v
}

func kubernetesDir(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, en := range entries {
		if path.Ext(en.Name()) != ".yaml" && path.Ext(en.Name()) != ".yml" {
			t.Errorf("deploy/kubernetes/%s: only YAML belongs here", en.Name())
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[en.Name()] = string(b)
	}
	return out
}

// shippedSessionSecret is the Secret's placeholder: eventops refuses to
// start with it, so that no two clusters share a session key.
const shippedSessionSecret = "session-secret: REPLACE_ME_with_openssl_rand_hex_32"

// withSessionSecret is dir once the operator has set the session secret.
func withSessionSecret(t *testing.T, dir map[string]string) map[string]string {
	t.Helper()
	if !strings.Contains(dir["secret.yaml"], shippedSessionSecret) {
		t.Fatalf("secret.yaml does not hold %q", shippedSessionSecret)
	}
	set := map[string]string{}
	for k, v := range dir {
		set[k] = v
	}
	set["secret.yaml"] = strings.Replace(dir["secret.yaml"], shippedSessionSecret, "session-secret: 5f0c3a9e7b2d41c8a6e9f1b3d7c2a4e8b0d6f3a1c9e5b7d2f4a8c6e0b1d3f5a7", 1)
	return set
}

func TestKubernetes(t *testing.T) {
	e := eventopsBinary(t)
	dir := kubernetesDir(t)
	docker := readRepoFile(t, "deploy/Dockerfile")
	// As shipped, the API refuses to start until the session secret is set.
	p := checkKubernetes(dir, docker, e, tables.DefaultLayout())
	if !mentions(p, "session_secret: looks like a placeholder") {
		t.Errorf("deploy/kubernetes as shipped: problems\n  %s\nwant the session secret's placeholder refused", strings.Join(p, "\n  "))
	}
	if p := checkKubernetes(withSessionSecret(t, dir), docker, e, tables.DefaultLayout()); len(p) > 0 {
		t.Errorf("deploy/kubernetes:\n  %s", strings.Join(p, "\n  "))
	}
}

// Every check of checkKubernetes, strict decoding first, catches the
// mistake it is there for.
func TestKubernetesChecksCatchMistakes(t *testing.T) {
	e := eventopsBinary(t)
	dir := withSessionSecret(t, kubernetesDir(t))
	docker := readRepoFile(t, "deploy/Dockerfile")
	type k8sMutation struct {
		file string
		mutation
	}
	mutations := []k8sMutation{
		// Strict decoding into the API types.
		{"processor.yaml", mutation{"misspelled field", "          readinessProbe:", "          readinesProbe:", `unknown field "spec.template.spec.containers[0].readinesProbe"`}},
		{"processor.yaml", mutation{"field in the wrong case", "            failureThreshold: 60", "            failurethreshold: 60", `unknown field "spec.template.spec.containers[0].startupProbe.failurethreshold"`}},
		{"processor.yaml", mutation{"duplicate field", "  replicas: 3\n", "  replicas: 3\n  replicas: 4\n", `key "replicas" already set`}},
		{"processor.yaml", mutation{"wrong type", "  replicas: 3\n", "  replicas: three\n", "processor.yaml"}},
		{"api.yaml", mutation{"bad quantity", "memory: 512Mi", "memory: 512MB", "quantities must match"}},
		{"service.yaml", mutation{"unknown kind", "kind: Service", "kind: Servce", `no kind "Servce"`}},
		{"job-topics.yaml", mutation{"field of another kind", "  backoffLimit: 10\n", "  backoffLimit: 10\n  replicas: 1\n", `unknown field "spec.replicas"`}},
		{"kustomization.yaml", mutation{"kustomization typo", "resources:", "resource:", "field resource not found"}},
		{"kustomization.yaml", mutation{"resource not listed", "  - pdb.yaml\n", "", "resources"}},
		{"kustomization.yaml", mutation{"selectors relabelled", "includeSelectors: false", "includeSelectors: true", "includeSelectors"}},
		// Probes, grace, security, resources.
		{"processor.yaml", mutation{"readiness on /healthz", "              path: /readyz", "              path: /healthz", "readiness probe"}},
		{"api.yaml", mutation{"probe on an unknown port", "              path: /healthz\n              port: http\n            periodSeconds: 10", "              path: /healthz\n              port: metrics\n            periodSeconds: 10", "liveness probe on port metrics"}},
		{"processor.yaml", mutation{"container port not eventops's", "containerPort: 8088", "containerPort: 8080", "eventops listens on 8088"}},
		{"processor.yaml", mutation{"grace shorter than the drain", "terminationGracePeriodSeconds: 100", "terminationGracePeriodSeconds: 60", "terminationGracePeriodSeconds 60"}},
		{"configmap.yaml", mutation{"drain longer than the grace", "shutdown_timeout: 30s", "shutdown_timeout: 45s", "3 × shutdown_timeout 45s"}},
		{"api.yaml", mutation{"root", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"}},
		{"job-migrate.yaml", mutation{"uid 0", "runAsUser: 65532", "runAsUser: 0", "runAsNonRoot"}},
		{"processor.yaml", mutation{"writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"}},
		{"api.yaml", mutation{"privilege escalation", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation"}},
		{"job-topics.yaml", mutation{"no memory limit", "              cpu: 500m\n              memory: 256Mi\n", "              cpu: 500m\n", "want requests and limits of memory"}},
		{"processor.yaml", mutation{"GOMEMLIMIT above the limit", "value: 900MiB", "value: 2GiB", "GOMEMLIMIT 2GiB"}},
		{"processor.yaml", mutation{"data dir not mounted", "            - name: data\n              mountPath: /var/lib/eventops\n", "", "data_dir /var/lib/eventops is not a writable volume"}},
		// What the containers run.
		{"processor.yaml", mutation{"two replicas", "  replicas: 3\n", "  replicas: 2\n", "want 3"}},
		{"processor.yaml", mutation{"no api stage: no probes answer", `"ingest,features,sink,notify,api"`, `"ingest,features,sink,notify"`, "only the api stage serves HTTP"}},
		{"processor.yaml", mutation{"unknown stage", `"ingest,features,sink,notify,api"`, `"ingest,features,sink,alerts,api"`, "refuses the configuration"}},
		{"job-topics.yaml", mutation{"unknown command", `args: ["topics"]`, `args: ["topic"]`, `no command "topic"`}},
		{"api.yaml", mutation{"unknown flag", `args: ["run", "--stages", "api"]`, `args: ["run", "--stage", "api"]`, "has no flag --stage"}},
		{"api.yaml", mutation{"unknown variable", "EVENTOPS_SESSION_SECRET", "EVENTOPS_SESSION_KEY", "reads no EVENTOPS_SESSION_KEY"}},
		{"configmap.yaml", mutation{"unknown config key", "log_format: json", "log_fmt: json", "does not read"}},
		{"configmap.yaml", mutation{"bad config value", "shutdown_timeout: 30s", "shutdown_timeout: 30", "refuses the configuration"}},
		{"configmap.yaml", mutation{"config key shadowed by the image", "log_format: json", "log_format: json\n    data_dir: /data", "EVENTOPS_DATA_DIR in the environment wins"}},
		{"configmap.yaml", mutation{"topics differ", "partitions: 12", "partitions: 24", "partitions 24, tables.DefaultLayout() says 12"}},
		{"configmap.yaml", mutation{"bad rule", `expr: avg("cpu_load", "1m") > 90`, `expr: avg("cpu_load", "1m") >`, "rules ConfigMap eventops key rules.yml"}},
		{"configmap.yaml", mutation{"rules not mounted", "rules: /etc/eventops/rules.yml", "rules: /etc/eventops/rules.yaml", `has no key "rules.yaml"`}},
		{"configmap.yaml", mutation{"auth none behind a Service", "log_format: json", "log_format: json\n    auth: none", `auth "none"`}},
		{"secret.yaml", mutation{"bad keys line", "sha256:0000000000000000000000000000000000000000000000000000000000000000 *", "0000 *", "api_keys_file"}},
		{"secret.yaml", mutation{"not a database URL", "database-url: postgres://", "database-url: mysql://", "is not a postgres:// URL"}},
		{"processor.yaml", mutation{"secret key misspelled", "                  key: database-url", "                  key: database_url", "has no key database_url"}},
		{"job-migrate.yaml", mutation{"config not mounted", "              mountPath: /etc/eventops\n", "              mountPath: /etc/eventops-config\n", "EVENTOPS_CONFIG"}},
		{"api.yaml", mutation{"undeclared volume", "            - name: tmp\n              mountPath: /tmp", "            - name: scratch\n              mountPath: /tmp", "mounts volume scratch"}},
		{"job-topics.yaml", mutation{"image not in the kustomization", "image: eventops", "image: ghcr.io/example/eventops", "not under kustomization.yaml's images"}},
		{"job-migrate.yaml", mutation{"job restarts forever", "restartPolicy: OnFailure", "restartPolicy: Always", "want OnFailure or Never"}},
		{"job-migrate.yaml", mutation{"job kept", "  ttlSecondsAfterFinished: 3600\n", "", "no ttlSecondsAfterFinished"}},
		// The Service and the disruption budgets.
		{"service.yaml", mutation{"Service to the processors", "    app.kubernetes.io/component: api\n  ports", "    app.kubernetes.io/component: processor\n  ports", "selects the processing replicas"}},
		{"service.yaml", mutation{"Service to a wrong port", "targetPort: http", "targetPort: 9090", "targets 9090"}},
		{"pdb.yaml", mutation{"budget for no pods", "      app.kubernetes.io/component: api\n", "      app.kubernetes.io/component: web\n", "selects no pods"}},
		{"processor.yaml", mutation{"selector misses its pods", "  selector:\n    matchLabels:\n      app.kubernetes.io/name: eventops\n      app.kubernetes.io/component: processor", "  selector:\n    matchLabels:\n      app.kubernetes.io/name: eventops\n      app.kubernetes.io/component: processors", "does not select its own pod template"}},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			broken := map[string]string{}
			for k, v := range dir {
				broken[k] = v
			}
			broken[m.file] = m.apply(t, dir[m.file])
			p := checkKubernetes(broken, docker, e, tables.DefaultLayout())
			if !mentions(p, m.want) {
				t.Errorf("%s: with %q → %q: problems\n  %s\nwant one with %q", m.file, m.old, m.new, strings.Join(p, "\n  "), m.want)
			}
		})
	}
}
