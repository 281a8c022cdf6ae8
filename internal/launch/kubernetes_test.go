package launch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes one YAML document into v, failing on unknown or duplicate fields, so
// that a misspelt field of the manifest fails the test instead of being dropped.
func decodeStrict(doc string, v any) error {
	j, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// manifest is a decoded Kubernetes launcher.
type manifest struct {
	config         corev1.ConfigMap
	sweep, summary batchv1.Job
}

// decodeManifest splits text into its YAML documents and decodes each strictly into the
// Kubernetes type its kind names.
func decodeManifest(t *testing.T, text string) manifest {
	t.Helper()
	var m manifest
	var jobs []*batchv1.Job
	docs := strings.Split(text, "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%d YAML documents; want 3 (ConfigMap, Job, aggregate Job)", len(docs))
	}
	for i, doc := range docs {
		doc += "\n" // the separator's line break ends the document before it
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var v any
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			v = &m.config
		case "batch/v1 Job":
			jobs = append(jobs, new(batchv1.Job))
			v = jobs[len(jobs)-1]
		default:
			t.Fatalf("document %d: %s %s; want a v1 ConfigMap or a batch/v1 Job", i, head.APIVersion, head.Kind)
		}
		if err := decodeStrict(doc, v); err != nil {
			t.Fatalf("document %d (%s): %v\n%s", i, head.Kind, err, doc)
		}
	}
	if len(jobs) != 2 {
		t.Fatalf("%d Jobs; want 2", len(jobs))
	}
	m.sweep, m.summary = *jobs[0], *jobs[1]
	return m
}

// TestDecodeStrictCatchesTypos checks that the strict decoding the manifest tests rely on
// fails on a misspelt field and on a duplicate one.
func TestDecodeStrictCatchesTypos(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: batch/v1\nkind: Job\nspec:\n  completion: 3\n",
		"apiVersion: batch/v1\nkind: Job\nspec:\n  completions: 3\n  completions: 4\n",
		"apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers: [{name: a, imag: b}]\n",
	} {
		if err := decodeStrict(doc, new(batchv1.Job)); err == nil {
			t.Errorf("no error for\n%s", doc)
		}
	}
}

func TestKubernetesManifest(t *testing.T) {
	const cfg = "# quick start\nout: runs/x\ntrain:\n  epochs: 4\n"
	base := Kubernetes{
		Sweep: Sweep{Config: "configs/quickstart.yaml", Grids: []string{"beta=0,0.2", "alpha=0,1e-3"}, Seeds: "0,1",
			Out: "runs/sweep/quickstart", Jobs: 8},
		Resources:  Resources{Name: "dmrnet-quickstart"},
		ConfigData: []byte(cfg), Image: "dmrnet:latest", RunsClaim: "dmrnet-runs", DataClaim: "dmrnet-data",
		Command: []string{"dmrnet", "sweep", "--config=configs/quickstart.yaml"},
	}
	for _, tc := range []struct {
		name   string
		edit   func(k *Kubernetes)
		shards int
		par    int
		args   []string
	}{
		{"one pod per job", func(k *Kubernetes) { k.Shards = 8 }, 8, 8,
			[]string{"sweep", "--config=/config/quickstart.yaml", "--grid=beta=0,0.2", "--grid=alpha=0,1e-3",
				"--seeds=0,1", "--out=/runs/runs/sweep/quickstart", "--data-root=/data"}},
		{"three shards, two at once, resources", func(k *Kubernetes) {
			k.Shards, k.Parallelism, k.CPUs, k.Time = 3, 2, 4, 90*time.Minute
			k.Mem, _ = ParseMemory("1536M")
			k.Image = "registry.example.com/team/dmrnet:v1.2.0"
		}, 3, 2,
			[]string{"sweep", "--config=/config/quickstart.yaml", "--grid=beta=0,0.2", "--grid=alpha=0,1e-3",
				"--seeds=0,1", "--out=/runs/runs/sweep/quickstart", "--data-root=/data"}},
		{"no data volume, sets with quotes and blanks", func(k *Kubernetes) {
			k.Shards, k.DataClaim, k.Out = 1, "", "out"
			k.Sets = []string{`data.synthetic.class_names=["it's", "a: b"]`, "train.epochs=2"}
			k.ConfigData = []byte("  leading blanks\n\ttab\n\n\nno final newline: \"x\" # y")
			k.Config = "my_config.v2.yaml"
		}, 1, 1,
			[]string{"sweep", "--config=/config/my_config.v2.yaml", `--set=data.synthetic.class_names=["it's", "a: b"]`,
				"--set=train.epochs=2", "--grid=beta=0,0.2", "--grid=alpha=0,1e-3", "--seeds=0,1", "--out=/runs/out"}},
		{"a configuration a literal block cannot hold", func(k *Kubernetes) {
			k.Shards = 2
			k.ConfigData = []byte("out: x\r\nbell: \a\n")
		}, 2, 2,
			[]string{"sweep", "--config=/config/quickstart.yaml", "--grid=beta=0,0.2", "--grid=alpha=0,1e-3",
				"--seeds=0,1", "--out=/runs/runs/sweep/quickstart", "--data-root=/data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := base
			tc.edit(&k)
			var buf bytes.Buffer
			if err := k.Write(&buf); err != nil {
				t.Fatal(err)
			}
			m := decodeManifest(t, buf.String())

			// the ConfigMap ships the configuration unchanged, under the name the pods read
			key := k.ConfigKey()
			if got := m.config.Data[key]; got != string(k.ConfigData) {
				t.Errorf("ConfigMap data[%q] = %q; want the configuration %q", key, got, k.ConfigData)
			}
			if m.config.Name != k.Name+"-config" {
				t.Errorf("ConfigMap %q", m.config.Name)
			}

			job := m.sweep
			s := job.Spec
			if job.Name != k.Name {
				t.Errorf("Job name %q; want %q", job.Name, k.Name)
			}
			if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
				t.Errorf("completionMode %v; want Indexed", s.CompletionMode)
			}
			if s.Completions == nil || int(*s.Completions) != tc.shards {
				t.Errorf("completions %v; want %d shards", s.Completions, tc.shards)
			}
			if s.Parallelism == nil || int(*s.Parallelism) != tc.par {
				t.Errorf("parallelism %v; want %d", s.Parallelism, tc.par)
			}
			pod := s.Template.Spec
			if pod.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("restartPolicy %q", pod.RestartPolicy)
			}
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers; want 1", len(pod.Containers))
			}
			c := pod.Containers[0]
			if c.Image != k.Image {
				t.Errorf("image %q; want %q", c.Image, k.Image)
			}
			if !slices.Equal(c.Command, []string{"dmrnet"}) || !slices.Equal(c.Args, tc.args) {
				t.Errorf("command %q args\n%q\nwant [dmrnet]\n%q", c.Command, c.Args, tc.args)
			}
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			if got := env["DMRNET_SHARD_COUNT"]; got != strconv.Itoa(tc.shards) {
				t.Errorf("DMRNET_SHARD_COUNT=%q; want %d, spec.completions", got, tc.shards)
			}
			if k.CPUs > 0 {
				if q := c.Resources.Requests[corev1.ResourceCPU]; q.String() != strconv.Itoa(k.CPUs) {
					t.Errorf("cpu request %s; want %d", q.String(), k.CPUs)
				}
			} else if len(c.Resources.Requests) != 0 {
				t.Errorf("requests %v; want none", c.Resources.Requests)
			}
			if k.Mem.MiB > 0 {
				q := c.Resources.Requests[corev1.ResourceMemory]
				l := c.Resources.Limits[corev1.ResourceMemory]
				if q.Value() != k.Mem.MiB<<20 || l.Value() != k.Mem.MiB<<20 {
					t.Errorf("memory request %s, limit %s; want %d MiB", q.String(), l.String(), k.Mem.MiB)
				}
			}
			if want := int64(k.Time / time.Second); (want == 0) != (pod.ActiveDeadlineSeconds == nil) ||
				(want != 0 && *pod.ActiveDeadlineSeconds != want) {
				t.Errorf("activeDeadlineSeconds %v; want %d", pod.ActiveDeadlineSeconds, want)
			}
			checkVolumes(t, pod, c, map[string]string{"/config": "configmap:" + k.Name + "-config", "/runs": "pvc:" + k.RunsClaim,
				"/data": map[bool]string{true: "pvc:" + k.DataClaim, false: ""}[k.DataClaim != ""]})
			if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.FSGroup == nil {
				t.Errorf("securityContext %+v; want a non-root user with an fsGroup", sc)
			}

			// the aggregate Job is suspended and summarises the sweep's root
			a := m.summary
			if a.Name != k.Name+"-aggregate" || a.Spec.Suspend == nil || !*a.Spec.Suspend {
				t.Errorf("aggregate Job %q suspend %v; want %s-aggregate, suspended", a.Name, a.Spec.Suspend, k.Name)
			}
			ac := a.Spec.Template.Spec.Containers
			wantAgg := []string{"aggregate", strings.TrimPrefix(tc.args[slices.IndexFunc(tc.args, func(s string) bool {
				return strings.HasPrefix(s, "--out=")
			})], "--out="), "--format=markdown"}
			if len(ac) != 1 || ac[0].Image != k.Image || !slices.Equal(ac[0].Args, wantAgg) {
				t.Errorf("aggregate containers %+v; want image %s args %q", ac, k.Image, wantAgg)
			}
			checkVolumes(t, a.Spec.Template.Spec, ac[0], map[string]string{"/runs": "pvc:" + k.RunsClaim})
			// the usage comment names the Jobs of this manifest
			for _, want := range []string{"kubectl wait --for=condition=complete --timeout=24h job/" + k.Name + "\n",
				"kubectl patch job " + k.Name + "-aggregate --type=merge -p '{\"spec\":{\"suspend\":false}}'"} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("the header does not say %q", want)
				}
			}
		})
	}
}

// checkVolumes checks that container c of pod mounts exactly the volumes of want, by mount
// path: "pvc:CLAIM" or "configmap:NAME" ("" for none at that path).
func checkVolumes(t *testing.T, pod corev1.PodSpec, c corev1.Container, want map[string]string) {
	t.Helper()
	vols := map[string]string{}
	for _, v := range pod.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			vols[v.Name] = "pvc:" + v.PersistentVolumeClaim.ClaimName
		case v.ConfigMap != nil:
			vols[v.Name] = "configmap:" + v.ConfigMap.Name
		default:
			vols[v.Name] = fmt.Sprintf("%+v", v.VolumeSource)
		}
	}
	got := map[string]string{}
	for _, m := range c.VolumeMounts {
		got[m.MountPath] = vols[m.Name]
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("mount %s: %q; want %q", p, got[p], w)
		}
	}
	if len(got) != len(vols) {
		t.Errorf("%d mounts of %d volumes", len(got), len(vols))
	}
}

func TestKubernetesRefuses(t *testing.T) {
	ok := Kubernetes{Sweep: Sweep{Config: "c.yaml", Seeds: "0", Out: "runs/x", Jobs: 4},
		Resources: Resources{Name: "dmrnet-x", Shards: 4}, Image: "dmrnet:latest", RunsClaim: "runs"}
	for _, tc := range []struct {
		name string
		edit func(k *Kubernetes)
		want string
	}{
		{"absolute out", func(k *Kubernetes) { k.Out = "/abs" }, "want a relative directory"},
		{"out above the volume", func(k *Kubernetes) { k.Out = "../x" }, "want a relative directory"},
		{"data root", func(k *Kubernetes) { k.DataRoot = "/data/sets" }, "data volume"},
		{"no image", func(k *Kubernetes) { k.Image = "" }, "image"},
		{"bad claim", func(k *Kubernetes) { k.RunsClaim = "Runs_1" }, "runs claim"},
		{"no runs claim", func(k *Kubernetes) { k.RunsClaim = "" }, "runs claim"},
		{"more shards than jobs", func(k *Kubernetes) { k.Shards = 5 }, "want 1..4"},
		{"no shards", func(k *Kubernetes) { k.Shards = 0 }, "want 1..4"},
		{"parallelism above shards", func(k *Kubernetes) { k.Parallelism = 5 }, "parallelism 5"},
		{"bad name", func(k *Kubernetes) { k.Name = "Dmrnet" }, "name"},
		{"config file name no ConfigMap key", func(k *Kubernetes) { k.Config = "dir/my config.yaml" }, "ConfigMap key"},
	} {
		k := ok
		tc.edit(&k)
		err := k.Write(new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v; want one about %q", tc.name, err, tc.want)
		}
	}
	if err := ok.Write(new(bytes.Buffer)); err != nil {
		t.Errorf("valid launcher: %v", err)
	}
}
