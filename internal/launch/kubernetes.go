package launch

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"unicode/utf8"
)

// Paths inside the pods of a Kubernetes launcher.
const (
	// PodConfigDir is where the base configuration (a ConfigMap) is mounted.
	PodConfigDir = "/config"
	// PodRunsDir is where the runs volume is mounted; the sweep's root is under it.
	PodRunsDir = "/runs"
	// PodDataDir is where the data volume is mounted, and the pods' data.root.
	PodDataDir = "/data"
	// PodUser is the user and group the pods run as: the Dockerfile's non-root user, so
	// that the volumes are writable for it (fsGroup).
	PodUser = 65532
)

// Kubernetes describes a Kubernetes launcher: one multi-document manifest with a ConfigMap
// holding the base configuration, an Indexed Job whose pods each run one shard of the sweep
// (completions = shards = DMRNET_SHARD_COUNT), and a suspended aggregate Job to resume once
// the sweep's Job is complete (Kubernetes has no dependencies between Jobs).
type Kubernetes struct {
	Sweep
	Resources
	// ConfigData is the content of the base configuration file, shipped in the ConfigMap.
	ConfigData []byte
	// Image is the container image; its PATH must hold dmrnet.
	Image string
	// RunsClaim is the PersistentVolumeClaim the runs are written to (ReadWriteMany when
	// pods run on several nodes).
	RunsClaim string
	// DataClaim is the PersistentVolumeClaim of the data sets, mounted read-only at /data
	// as data.root; "" mounts none (synthetic data).
	DataClaim string
	// Command is the dmrnet sweep command line the launcher was generated with, recorded in
	// its header comment.
	Command []string
}

// PodOut is the sweep's root inside the pods: Out under the runs volume.
func (k Kubernetes) PodOut() string {
	return path.Join(PodRunsDir, filepath.ToSlash(filepath.Clean(k.Out)))
}

// Check reports whether the launcher can be written.
func (k Kubernetes) Check() error {
	if err := k.Resources.check(k.Jobs); err != nil {
		return err
	}
	if k.DataRoot != "" {
		return fmt.Errorf("data root %q: the pods read their data from the data volume at %s", k.DataRoot, PodDataDir)
	}
	out := filepath.ToSlash(filepath.Clean(k.Out))
	if filepath.IsAbs(k.Out) || path.IsAbs(out) || out == ".." || strings.HasPrefix(out, "../") {
		return fmt.Errorf("output root %q: want a relative directory, created under the runs volume at %s", k.Out, PodRunsDir)
	}
	if k.Image == "" || strings.ContainsAny(k.Image, " \t\n") {
		return fmt.Errorf("image %q: want an image reference such as registry.example.com/dmrnet:v1", k.Image)
	}
	if key := k.ConfigKey(); len(key) > 253 || !configKeyRE.MatchString(key) {
		return fmt.Errorf("configuration file name %q: a ConfigMap key allows only letters, digits, '-', '_' and '.' (rename the file)", key)
	}
	for _, c := range []struct{ what, name string }{{"runs claim", k.RunsClaim}, {"data claim", k.DataClaim}} {
		if (c.name != "" || c.what == "runs claim") && !nameRE.MatchString(c.name) {
			return fmt.Errorf("%s %q: want a PersistentVolumeClaim name (lower-case letters, digits and '-')", c.what, c.name)
		}
	}
	return nil
}

// configKeyRE matches the keys a ConfigMap accepts.
var configKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// ConfigKey is the ConfigMap key, and file name under /config, of the base configuration.
func (k Kubernetes) ConfigKey() string {
	return filepath.Base(k.Config)
}

// TaskArgs returns the arguments of dmrnet in every pod of the sweep's Job.
func (k Kubernetes) TaskArgs() []string {
	data := ""
	if k.DataClaim != "" {
		data = PodDataDir
	}
	return k.args(path.Join(PodConfigDir, k.ConfigKey()), k.PodOut(), data)
}

// AggregateArgs returns the arguments of dmrnet in the aggregate Job, which prints a
// Markdown summary (kubectl logs job/NAME-aggregate).
func (k Kubernetes) AggregateArgs() []string {
	return []string{"aggregate", k.PodOut(), "--format=markdown"}
}

// Write writes the manifest to w.
func (k Kubernetes) Write(w io.Writer) error {
	if err := k.Check(); err != nil {
		return err
	}
	parallelism := k.Parallelism
	if parallelism == 0 {
		parallelism = k.Shards
	}
	data := map[string]any{
		"K":           k,
		"Parallelism": parallelism,
		"Command":     strings.ReplaceAll(shellJoin(k.Command), "\n", " "),
		"Mem":         "",
		"Deadline":    int64(0),
		"User":        PodUser,
		"ConfigKey":   k.ConfigKey(),
		"Config":      string(k.ConfigData),
		"TaskArgs":    k.TaskArgs(),
		"AggArgs":     k.AggregateArgs(),
		"ConfigDir":   PodConfigDir,
		"RunsDir":     PodRunsDir,
		"DataDir":     PodDataDir,
	}
	if k.Mem.MiB > 0 {
		data["Mem"] = k.Mem.kubernetes()
	}
	if k.Time > 0 {
		data["Deadline"] = seconds(k.Time)
	}
	return kubernetesTemplate.Execute(w, data)
}

// quote writes s as a YAML scalar: a JSON string, which YAML reads unchanged.
func quote(v any) (string, error) {
	b, err := json.Marshal(fmt.Sprint(v))
	return string(b), err
}

// literal writes s as a YAML literal block scalar indented by indent, so that the
// configuration in the ConfigMap reads as the file does; text a literal block cannot hold
// exactly (control characters, carriage returns, YAML 1.1 line breaks, invalid UTF-8) is
// written as a quoted string.
func literal(s, indent string) (string, error) {
	plain := s != "" && utf8.ValidString(s)
	for _, r := range s {
		if (r < ' ' && r != '\n' && r != '\t') || r == 0x7f || r == 0x85 || r == 0xfeff || r == 0x2028 || r == 0x2029 {
			plain = false
		}
	}
	if !plain {
		return quote(s)
	}
	chomp := "" // one final line break: clip
	switch {
	case !strings.HasSuffix(s, "\n"):
		chomp = "-"
	case strings.HasSuffix(s, "\n\n"):
		chomp = "+"
	}
	var b strings.Builder
	// the explicit indentation indicator lets the first line start with blanks
	fmt.Fprintf(&b, "|%d%s", len(indent)-2, chomp)
	for line := range strings.Lines(s) {
		line = strings.TrimSuffix(line, "\n")
		b.WriteString("\n")
		if line != "" {
			b.WriteString(indent + line)
		}
	}
	return b.String(), nil
}

var kubernetesTemplate = template.Must(template.New("k8s").Funcs(template.FuncMap{"q": quote, "literal": literal}).Parse(`# A dmrnet sweep as a Kubernetes Indexed Job: {{.K.Jobs}} jobs in {{.K.Out}} on the runs volume, as {{.K.Shards}} pods.
# Generated by: {{.Command}}
#
# Run the sweep, then the summary once every pod has succeeded (Kubernetes Jobs have no
# dependencies: the aggregate Job is created suspended and resumed here):
#   kubectl apply -f THIS_FILE
#   kubectl wait --for=condition=complete --timeout=24h job/{{.K.Name}}
#   kubectl patch job {{.K.Name}}-aggregate --type=merge -p '{"spec":{"suspend":false}}'
#   kubectl wait --for=condition=complete --timeout=1h job/{{.K.Name}}-aggregate
#   kubectl logs job/{{.K.Name}}-aggregate > summary.md
# Needs: the image {{.K.Image}} (see the Dockerfile), the PersistentVolumeClaim
# {{.K.RunsClaim}} (ReadWriteMany when pods run on several nodes){{if .K.DataClaim}} and {{.K.DataClaim}} (the data
# sets, mounted read-only at {{.DataDir}}){{end}}. Re-applying after deleting the Jobs skips finished
# jobs and resumes interrupted ones.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{q (print .K.Name "-config")}}
  labels: {app.kubernetes.io/name: dmrnet, dmrnet/sweep: {{q .K.Name}}}
data:
  {{q .ConfigKey}}: {{literal .Config "    "}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{q .K.Name}}
  labels: {app.kubernetes.io/name: dmrnet, dmrnet/sweep: {{q .K.Name}}}
spec:
  # pod i gets JOB_COMPLETION_INDEX=i, dmrnet's shard index; a failed pod is retried with
  # the same index
  completionMode: Indexed
  completions: {{.K.Shards}}
  parallelism: {{.Parallelism}}
  backoffLimit: {{.K.Shards}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: dmrnet, dmrnet/sweep: {{q .K.Name}}}
    spec:
      restartPolicy: Never
{{- if .Deadline}}
      activeDeadlineSeconds: {{.Deadline}}
{{- end}}
      securityContext: {runAsNonRoot: true, runAsUser: {{.User}}, runAsGroup: {{.User}}, fsGroup: {{.User}}}
      containers:
        - name: dmrnet
          image: {{q .K.Image}}
          imagePullPolicy: IfNotPresent
          command: ["dmrnet"]
          args:
{{- range .TaskArgs}}
            - {{q .}}
{{- end}}
          env:
            # Kubernetes does not tell a pod the Job's completions: the shard count
            - name: DMRNET_SHARD_COUNT
              value: {{q .K.Shards}}
{{- if or .K.CPUs .Mem}}
          resources:
            requests: { {{- if .K.CPUs}}cpu: {{q .K.CPUs}}{{if .Mem}}, {{end}}{{end}}{{if .Mem}}memory: {{q .Mem}}{{end -}} }
{{- if .Mem}}
            limits: {memory: {{q .Mem}}}
{{- end}}
{{- end}}
          volumeMounts:
            - {name: config, mountPath: {{q .ConfigDir}}, readOnly: true}
            - {name: runs, mountPath: {{q .RunsDir}}}
{{- if .K.DataClaim}}
            - {name: data, mountPath: {{q .DataDir}}, readOnly: true}
{{- end}}
      volumes:
        - name: config
          configMap: {name: {{q (print .K.Name "-config")}}}
        - name: runs
          persistentVolumeClaim: {claimName: {{q .K.RunsClaim}}}
{{- if .K.DataClaim}}
        - name: data
          persistentVolumeClaim: {claimName: {{q .K.DataClaim}}, readOnly: true}
{{- end}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{q (print .K.Name "-aggregate")}}
  labels: {app.kubernetes.io/name: dmrnet, dmrnet/sweep: {{q .K.Name}}}
spec:
  # resumed by kubectl patch once job/{{.K.Name}} is complete (see the top of the file)
  suspend: true
  completions: 1
  backoffLimit: 2
  template:
    metadata:
      labels: {app.kubernetes.io/name: dmrnet, dmrnet/sweep: {{q .K.Name}}}
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: {{.User}}, runAsGroup: {{.User}}, fsGroup: {{.User}}}
      containers:
        - name: dmrnet
          image: {{q .K.Image}}
          imagePullPolicy: IfNotPresent
          command: ["dmrnet"]
          args:
{{- range .AggArgs}}
            - {{q .}}
{{- end}}
          volumeMounts:
            - {name: runs, mountPath: {{q .RunsDir}}, readOnly: true}
      volumes:
        - name: runs
          persistentVolumeClaim: {claimName: {{q .K.RunsClaim}}}
`))
