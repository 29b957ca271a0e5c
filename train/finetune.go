package train

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/nn"
)

// initFrom loads the final weights of the finished run in cfg.InitFrom into
// m, the freshly built (and head-modified) model of cfg: full fine-tuning
// transfer, as in Kornblith et al. 2021, where the pretrained body
// initialises a network that is then trained on the target task.
//
// Every parameter and BatchNorm buffer outside the head is overwritten
// with the source's value of the same name, which must have the same shape;
// the head's parameters (those of m.Head, "head.*") keep their fresh
// initialisation, since the target has its own classes and the source's
// head may have been changed by its objective. The source's weights are
// those its final evaluation used (LoadModel: EMA averages if it averaged).
//
// Errors name init_from and the source folder: a folder without a finished
// run, another model architecture, another example shape, a source whose
// params_sha256 is not cfg.InitFromSHA256 (it was retrained since the
// config was resolved), or a body parameter the source lacks. It returns
// the number of parameter tensors copied.
func initFrom(cfg Config, m *nn.Model, datasets *data.Resolver) (copied int, err error) {
	src := cfg.InitFrom
	fail := func(format string, args ...any) error {
		return fmt.Errorf("init_from %s: "+format, append([]any{src}, args...)...)
	}
	res, err := readResult(filepath.Join(src, MetricsFile))
	if err != nil {
		return 0, fail("holds no finished run: %v", err)
	}
	if res.ParamsSHA256 != cfg.InitFromSHA256 {
		return 0, fail("its params_sha256 is %s, but this run's config has init_from_sha256 %s: the source was retrained; use a new run folder",
			res.ParamsSHA256, cfg.InitFromSHA256)
	}
	srcModel, srcCfg, err := LoadModel(src, datasets)
	if err != nil {
		return 0, fail("%v", err)
	}
	if srcCfg.Model != cfg.Model {
		return 0, fail("the source trained model %q; this run's model is %q (the architectures must be the same)", srcCfg.Model, cfg.Model)
	}
	if !slices.Equal(srcModel.InputShape, m.InputShape) {
		return 0, fail("the source trained on examples of shape %v (dataset %s); this run's dataset %s has %v",
			srcModel.InputShape, srcCfg.Dataset, cfg.Dataset, m.InputShape)
	}
	source := map[string]*nn.Param{}
	for _, p := range srcModel.Params() {
		source[p.Name] = p
	}
	head := map[*nn.Param]bool{}
	for _, p := range m.Head.Params() {
		head[p] = true
	}
	for _, p := range m.Params() {
		if head[p] {
			continue
		}
		s, ok := source[p.Name]
		if !ok {
			return 0, fail("the source model has no parameter %s", p.Name)
		}
		if !slices.Equal(s.Shape, p.Shape) {
			return 0, fail("parameter %s has shape %v in the source, %v here", p.Name, s.Shape, p.Shape)
		}
		copy(p.Value, s.Value)
		copied++
	}
	return copied, nil
}
