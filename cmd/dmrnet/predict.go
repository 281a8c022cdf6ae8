package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dmrnet/dmrnet"
	"github.com/dmrnet/dmrnet/internal/atomicfile"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/inputs"
	"github.com/dmrnet/dmrnet/internal/progress"
	"github.com/spf13/cobra"
)

// predictChunk is the number of samples read, scored and written at a time: memory stays
// bounded whatever the input's size.
const predictChunk = 4096

// Uncertainty measures predict can abstain on, the best measured first (see
// internal/uncertainty and the README: 1 - max probability separates wrong from right
// predictions best, sigma^2 worse than chance).
var abstainMeasures = []string{"1-maxprob", "entropy", "variance"}

type predictOptions struct {
	checkpoint, config string
	sets               []string
	dataRoot           string
	input              string
	views              []string
	format, output     string
	inference          string
	skipBad            bool
	abstainAbove       float64
	abstainMeasure     string
}

func (a *app) newPredictCmd() *cobra.Command {
	o := &predictOptions{}
	cmd := &cobra.Command{
		Use:   "predict",
		Short: "Score new samples with a trained model, whatever modalities they carry",
		Long: `Score new, unlabelled samples with a trained model. Each sample may carry any
non-empty combination of the model's modalities; the others are treated as missing, exactly
as in eval and sweep-missing (same preprocessing, same inference mode, same predictions).

Input:
  models of file modalities (manifest and avmnist data): --input MANIFEST.csv, a header row
  with an id column (optional; otherwise the row number is the id) and one column per
  modality holding a file path relative to the manifest; an empty cell means the sample lacks
  that modality. label and split columns are allowed and ignored.
  models of feature vectors (table and synthetic data): --view NAME=FILE per view, CSV (no
  header) or NPY, rows aligned; an empty or all-NaN row means the sample lacks that view, and a
  view not given is missing for every sample. Values are raw, as in the training files: the
  stored standardisation is applied.

Output, one record per sample (JSON lines or CSV): id, the present modalities, the predicted
class, the probability of every class, and two uncertainties: variance (the mean predicted
variance sigma^2 of the probabilistic embedding; null/NaN for a model without a logvar head)
and entropy (of the predicted distribution, in nats); max_prob is the largest probability.
With --abstain-above X a record also says whether the model should abstain (its uncertainty
on --abstain-measure is above X).

A sample without any modality, an unreadable file, a row of the wrong width or a value that
is not a finite number stops predict with an error naming the file and row, and --output is
left untouched; with --skip-bad such samples get a record with an "error" field instead.
Input is read and written in chunks of 4096 samples, so memory stays bounded.`,
		Example: `  dmrnet predict --checkpoint runs/quickstart --view rgb=frames-rgb.csv --view ir=frames-ir.csv
  dmrnet predict --checkpoint runs/mfeat --view pix=pix.csv --view fou=fou.npy --format csv --output pred.csv
  dmrnet predict --checkpoint runs/my-rig --input new.csv --abstain-above 0.5 --output pred.jsonl`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runPredict(o, cmd.Flags().Changed("abstain-above"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.checkpoint, "checkpoint", "", "the trained model: a run directory (final.ckpt, or checkpoint.ckpt if training has not finished) or a checkpoint file; default, with no --config either: the most recently finished run under ./runs")
	f.StringVarP(&o.config, "config", "c", "", "use the run directory this configuration trains into (its out key)")
	f.StringArrayVar(&o.sets, "set", nil, "override a key of --config to find the run directory, e.g. --set out=runs/other (repeatable)")
	f.StringVar(&o.dataRoot, "data-root", "", "training data directory, needed only for checkpoints of dmrnet versions that did not record input shapes")
	f.StringVar(&o.input, "input", "", "manifest CSV of the samples (models of file modalities)")
	f.StringArrayVar(&o.views, "view", nil, "NAME=FILE: a view's rows, CSV or NPY (models of feature vectors; repeatable)")
	f.StringVar(&o.format, "format", "jsonl", "output format: jsonl or csv")
	f.StringVarP(&o.output, "output", "o", "", "write to this file (atomically: complete or not at all) instead of stdout")
	f.StringVar(&o.inference, "inference", "", "inference mode instead of the trained model.inference: fused, route or ensemble")
	f.BoolVar(&o.skipBad, "skip-bad", false, "write a record with an error field for a sample that cannot be scored, instead of stopping")
	f.Float64Var(&o.abstainAbove, "abstain-above", 0, "mark samples whose uncertainty (--abstain-measure) is above this value: abstain true")
	f.StringVar(&o.abstainMeasure, "abstain-measure", "1-maxprob", "uncertainty for --abstain-above: 1-maxprob (1 - the largest probability), entropy (nats) or variance (sigma^2; measured worse than chance, see dmrnet uncertainty)")
	return cmd
}

func (a *app) runPredict(o *predictOptions, abstain bool) error {
	if o.format != "jsonl" && o.format != "csv" {
		return usagef("--format=%s: not supported (want jsonl or csv)", o.format)
	}
	if !validFormat(o.abstainMeasure, abstainMeasures) {
		return usagef("--abstain-measure=%s: not a measure (want %s)", o.abstainMeasure, joinOr(abstainMeasures))
	}
	if abstain && (math.IsNaN(o.abstainAbove) || math.IsInf(o.abstainAbove, 0)) {
		return usagef("--abstain-above=%v: not a finite number (give the largest uncertainty to accept, e.g. --abstain-above 0.5)", o.abstainAbove)
	}
	dir, err := a.runDir("predict", o.checkpoint, o.config, o.sets)
	if err != nil {
		return err
	}
	mo := &modelOptions{config: o.config, sets: o.sets, dataRoot: o.dataRoot, inference: o.inference}
	if o.config != "" {
		if err := a.honour(mo); err != nil {
			return err
		}
	}
	root := a.dataRootFor(dir, mo.dataRoot)
	m, err := dmrnet.LoadWith(dir, dmrnet.Options{DataRoot: root})
	if err != nil {
		return err
	}
	if o.config != "" {
		if err := a.checkSets(o.sets, o.config, m.ConfigYAML(), "predict", "data.root", "model.inference"); err != nil {
			return err
		}
	}
	if mo.inference != "" {
		if err := m.SetInference(mo.inference); err != nil {
			return usageError{fmt.Errorf("--inference=%s: %w", mo.inference, err)}
		}
	}
	if abstain && o.abstainMeasure == "variance" && !m.HasVariance() {
		return usagef("--abstain-measure=variance: the model in %s has no logvar head (use entropy or maxprob)", dir)
	}
	a.warn(m.Warnings())
	if !m.Final() {
		fmt.Fprintf(a.errOut, "dmrnet: training in %s has not finished; predicting with its latest checkpoint\n", dir)
	}
	cfg, err := config.FromYAML(m.ConfigYAML(), m.Path())
	if err != nil {
		return err
	}
	var names []string
	vector := true
	for _, md := range m.Modalities() {
		names = append(names, md.Name)
		vector = vector && md.Input == dataset.InputVector
	}
	in, err := openInputs(names, vector, cfg, o.input, o.views, "", false)
	if err != nil {
		return err
	}
	defer in.Close()
	w := &predictWriter{format: o.format, classes: m.Classes(), abstain: abstain, skipBad: o.skipBad, measure: o.abstainMeasure, limit: o.abstainAbove}
	start := time.Now()
	var runErr error
	run := func(out io.Writer) error {
		runErr = a.predictAll(m, in, w, out, o.skipBad)
		return runErr
	}
	if o.output == "" {
		err = run(a.out)
	} else {
		err = atomicfile.Write(o.output, 0o644, run)
	}
	if runErr != nil {
		return runErr // the input's problem, not the output file's
	}
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	msg := fmt.Sprintf("dmrnet: predicted %d samples in %.2f s (%.0f samples/s)", w.n, secs, float64(w.n)/math.Max(secs, 1e-9))
	if w.bad > 0 {
		msg += fmt.Sprintf("; %d could not be scored (records with an error field)", w.bad)
	}
	if abstain {
		msg += fmt.Sprintf("; %d abstained (%s > %g)", w.abstained, o.abstainMeasure, o.abstainAbove)
	}
	if o.output != "" {
		msg += "; wrote " + o.output
	}
	fmt.Fprintln(a.errOut, msg)
	return nil
}

// openInputs opens the reader the inputs of a model need, given its modality names, whether
// they are all rows of numbers (vector) and its configuration: a manifest for file
// modalities, view files (and a labels file) for vector modalities. With needLabels every
// sample must have a label (eval --data).
func openInputs(names []string, vector bool, cfg *config.Config, manifest string, views []string, labels string, needLabels bool) (inputs.Reader, error) {
	if vector {
		if manifest != "" {
			return nil, usagef("%s: this model takes rows of numbers, one file per view (use --view NAME=FILE for %s)", manifest, strings.Join(names, ", "))
		}
		if len(views) == 0 {
			return nil, usagef("--view: no input given (give --view NAME=FILE for one or more of %s)", strings.Join(names, ", "))
		}
		if needLabels && labels == "" {
			return nil, usagef("--labels: evaluation needs the samples' labels (a file with one class name or index per row)")
		}
		files := map[string]string{}
		for _, v := range views {
			name, file, ok := strings.Cut(v, "=")
			if !ok || name == "" || file == "" {
				return nil, usagef("--view=%s: want NAME=FILE (e.g. --view %s=%s.csv)", v, names[0], names[0])
			}
			if !contains(names, name) {
				return nil, usagef("--view=%s: %q is not a modality of the model (its modalities are %s)", v, name, strings.Join(names, ", "))
			}
			if _, dup := files[name]; dup {
				return nil, usagef("--view=%s: view %s is given twice (give each view once)", v, name)
			}
			files[name] = file
		}
		r, err := inputs.OpenViews(files, labels)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	if len(views) > 0 {
		return nil, usagef("--view: this model takes files, %s (give them in a manifest CSV with --input instead)", strings.Join(names, ", "))
	}
	if labels != "" {
		return nil, usagef("--labels: not for a model of file inputs (give the labels in the manifest's label column)")
	}
	if manifest == "" {
		return nil, usagef("--input: no input given (give a manifest CSV with an id column and a column per modality: %s)", strings.Join(names, ", "))
	}
	o := inputs.ManifestOptions{Columns: map[string]string{}, RequireLabels: needLabels, Ignore: []string{"split"}}
	for _, n := range names {
		o.Columns[n] = n
	}
	if cfg.Data.Kind == "manifest" {
		mf := cfg.Data.Manifest
		o.IDColumn, o.LabelColumn = mf.IDColumn, mf.LabelColumn
		if mf.SplitColumn != "" {
			o.Ignore = []string{mf.SplitColumn}
		}
		for _, mm := range mf.Modalities {
			if mm.Column != "" {
				o.Columns[mm.Column] = mm.Name
			}
		}
	}
	r, err := inputs.OpenManifest(manifest, o)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func contains(v []string, s string) bool {
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

// predictAll streams records from in through the model to out.
func (a *app) predictAll(m *dmrnet.Model, in inputs.Reader, w *predictWriter, out io.Writer, skipBad bool) error {
	_, total := in.Progress()
	bar := progress.New(a.errOut, int(total>>10), "predict (KiB of input)", a.errTTY)
	defer bar.Finish()
	bw := bufio.NewWriterSize(out, 1<<16)
	if err := w.header(bw); err != nil {
		return err
	}
	var doneKB int
	for {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		recs, err := in.Next(predictChunk)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		samples := make([]dmrnet.Sample, len(recs))
		for i, r := range recs {
			samples[i] = dmrnet.Sample{ID: r.ID, Vectors: r.Vectors, Files: r.Files}
		}
		preds, err := m.Predict(a.ctx, samples)
		var se *dmrnet.SampleError
		if errors.As(err, &se) {
			if !skipBad {
				return sampleError(recs[se.Index], se.Err)
			}
		} else if err != nil {
			return err
		}
		for i := range preds {
			if preds[i].Err != nil {
				preds[i].Err = sampleError(recs[i], preds[i].Err)
			}
			if err := w.write(bw, &preds[i]); err != nil {
				return err
			}
		}
		done, _ := in.Progress()
		bar.Add(int(done>>10) - doneKB)
		doneKB = int(done >> 10)
	}
	return bw.Flush()
}

// sampleError names the file and row of a sample that could not be scored.
func sampleError(r inputs.Record, err error) error {
	where := r.Where
	var me *dataset.ModalityError
	if errors.As(err, &me) && r.Locs[me.Modality] != "" {
		where = r.Locs[me.Modality]
	}
	if r.ID != "" && !strings.Contains(where, "sample "+r.ID+" ") && r.Locs == nil {
		where += " (id " + r.ID + ")"
	}
	return fmt.Errorf("%s: %w", where, err)
}

// predictWriter writes prediction records as JSON lines or CSV.
type predictWriter struct {
	format    string
	classes   []string
	abstain   bool
	skipBad   bool
	measure   string
	limit     float64
	n, bad    int
	abstained int
}

func (w *predictWriter) header(out io.Writer) error {
	if w.format != "csv" {
		return nil
	}
	cols := []string{"id", "present", "class"}
	for _, c := range w.classes {
		cols = append(cols, "p_"+c)
	}
	cols = append(cols, "variance", "entropy", "max_prob")
	if w.abstain {
		cols = append(cols, "abstain")
	}
	if w.skipBad {
		cols = append(cols, "error")
	}
	cw := csv.NewWriter(out)
	cw.Write(cols)
	cw.Flush()
	return cw.Error()
}

func (w *predictWriter) uncertainty(p *dmrnet.Prediction) float64 {
	switch w.measure {
	case "variance":
		return p.Variance
	case "entropy":
		return p.Entropy
	}
	return p.MaxProbUncertainty()
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func (w *predictWriter) write(out io.Writer, p *dmrnet.Prediction) error {
	w.n++
	ok := p.Err == nil
	if !ok {
		w.bad++
	}
	var abst bool
	if ok && w.abstain {
		abst = w.uncertainty(p) > w.limit
		if abst {
			w.abstained++
		}
	}
	if w.format == "csv" {
		rec := []string{p.ID, strings.Join(p.Present, "+"), p.Class}
		for i := range w.classes {
			if ok {
				rec = append(rec, num(p.Probs[i]))
			} else {
				rec = append(rec, "")
			}
		}
		if ok {
			rec = append(rec, num(p.Variance), num(p.Entropy), num(1-p.MaxProbUncertainty()))
		} else {
			rec = append(rec, "", "", "")
		}
		if w.abstain {
			rec = append(rec, strconv.FormatBool(abst))
		}
		if w.skipBad {
			e := ""
			if !ok {
				e = p.Err.Error()
			}
			rec = append(rec, e)
		}
		cw := csv.NewWriter(out)
		cw.Write(rec)
		cw.Flush()
		return cw.Error()
	}
	var b strings.Builder
	b.WriteString(`{"id":`)
	writeJSON(&b, p.ID)
	b.WriteString(`,"present":`)
	writeJSON(&b, p.Present)
	if !ok {
		b.WriteString(`,"error":`)
		writeJSON(&b, p.Err.Error())
		b.WriteString("}\n")
		_, err := io.WriteString(out, b.String())
		return err
	}
	b.WriteString(`,"class":`)
	writeJSON(&b, p.Class)
	b.WriteString(`,"probs":{`)
	for i, c := range w.classes {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, c)
		b.WriteByte(':')
		b.WriteString(num(p.Probs[i]))
	}
	b.WriteString(`},"variance":`)
	if math.IsNaN(p.Variance) {
		b.WriteString("null")
	} else {
		b.WriteString(num(p.Variance))
	}
	b.WriteString(`,"entropy":` + num(p.Entropy) + `,"max_prob":` + num(1-p.MaxProbUncertainty()))
	if w.abstain {
		b.WriteString(`,"abstain":` + strconv.FormatBool(abst))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(out, b.String())
	return err
}

func writeJSON(b *strings.Builder, v any) {
	j, _ := json.Marshal(v)
	b.Write(j)
}
