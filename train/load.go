package train

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/internal/jsonfile"
	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/objective"
	"github.com/losslab/losslab/optim"
)

// LoadModel rebuilds the model of the finished run in dir and restores the
// weights its final evaluation used: the checkpoint written at the end of
// the last epoch, with the EMA averages swapped in for the parameters they
// cover when the run averaged its weights (evaluate does the same). The
// model is in the state that produced metrics.json's test accuracy.
//
// datasets resolves the run's dataset (its example shape and number of
// classes size the model); nil resolves as in Run.
//
// It errors when dir holds no finished run (no metrics.json), when the
// checkpoint is missing or corrupt, or when it does not match the config.
func LoadModel(dir string, datasets *data.Resolver) (*nn.Model, Config, error) {
	var cfg Config
	cfgPath := filepath.Join(dir, ConfigFile)
	if err := jsonfile.Read(cfgPath, &cfg); err != nil {
		return nil, cfg, fmt.Errorf("load model: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, MetricsFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, cfg, fmt.Errorf("load model: %s holds no finished run (no %s); finish it with 'losslab train' first", dir, MetricsFile)
	}
	train, _, err := datasets.Load(cfg.Dataset)
	if err != nil {
		return nil, cfg, fmt.Errorf("load model: %w", err)
	}
	m, err := nn.Build(cfg.Model, train.ExampleShape(), train.NumClasses, cfg.Seed)
	if err != nil {
		return nil, cfg, fmt.Errorf("load model: %w", err)
	}
	obj, err := objective.New(cfg.Objective, cfg.ObjectiveParams)
	if err != nil {
		return nil, cfg, fmt.Errorf("load model: %w", err)
	}
	if err := objective.ModifyHead(obj, m); err != nil {
		return nil, cfg, fmt.Errorf("load model: %w", err)
	}
	ckPath := filepath.Join(dir, CheckpointFile)
	ck, err := readCheckpoint(ckPath)
	if err != nil {
		return nil, cfg, fmt.Errorf("load model: %w", err)
	}
	if string(ck.Fingerprint) != string(cfg.Resolved().fingerprint()) {
		return nil, cfg, fmt.Errorf("load model: %s was written by another config than %s", ckPath, cfgPath)
	}
	saved := map[string][]float32{}
	for _, s := range ck.Sections {
		saved[s.Name] = s.Data
	}
	for _, p := range m.Params() {
		v, ok := saved["param/"+p.Name]
		if !ok || len(v) != len(p.Value) {
			return nil, cfg, fmt.Errorf("load model: %s: no section param/%s of %d values; was it written by another model?", ckPath, p.Name, len(p.Value))
		}
		copy(p.Value, v)
		if cfg.EMADecay > 0 {
			// The EMA section exists only for the parameters it averages
			// (not the BatchNorm buffers): those keep their live values,
			// as in evaluation.
			if e, ok := saved["ema/"+p.Name]; ok && len(e) == len(p.Value) {
				copy(p.Value, e)
			}
		}
	}
	if cfg.EMADecay > 0 && !hasPrefixSection(ck.Sections, "ema/") {
		return nil, cfg, fmt.Errorf("load model: %s has no EMA sections though ema_decay = %g", ckPath, cfg.EMADecay)
	}
	return m, cfg, nil
}

func hasPrefixSection(ss []optim.NamedSlice, prefix string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s.Name, prefix) {
			return true
		}
	}
	return false
}
