package objective_test

import (
	"fmt"
	"log"

	"github.com/losslab/losslab/objective"
	"github.com/losslab/losslab/tensor"
)

// New builds an objective by registry name; keys missing from the params
// take their defaults, so label smoothing with only alpha given keeps
// rescale = 1. The loss is the mean over the batch of logits [N, K].
func ExampleNew() {
	ls, err := objective.New("label_smoothing", map[string]float64{"alpha": 0.2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ls.Name(), ls.Hyperparams())

	// Two examples, three classes; both are classified right.
	z := tensor.FromData([]float32{
		2, 0, -1,
		0.5, 1.5, 0,
	}, 2, 3)
	labels := []int{0, 1}
	grad := tensor.New(2, 3)
	fmt.Printf("label smoothing loss %.4f\n", ls.Loss(z, labels, grad))
	// dL/dz of the mean loss: (softmax(z) − smoothed target)·c/N per row,
	// with c = 1/(1−α) = 1.25 and N = 2; each row sums to zero.
	for i := 0; i < 2; i++ {
		r := grad.Data[3*i : 3*i+3]
		fmt.Printf("row %d gradient [%.4f %.4f %.4f]\n", i, r[0], r[1], r[2])
	}

	sm, err := objective.New("softmax", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("softmax loss %.4f\n", sm.Loss(z, labels, nil))

	// Out-of-range values are errors that state the valid range.
	_, err = objective.New("label_smoothing", map[string]float64{"alpha": 1.5})
	fmt.Println(err)
	// Output:
	// label_smoothing map[alpha:0.2 rescale:1]
	// label smoothing loss 0.7089
	// row 0 gradient [-0.0143 0.0297 -0.0154]
	// row 1 gradient [0.1028 -0.1488 0.0460]
	// softmax loss 0.3171
	// objective label_smoothing: hyperparameter alpha = 1.5, want in [0, 1] (below 1 when rescale = 1)
}

// Names lists the registry in the order of the study's table; Describe
// gives each objective's role and default hyperparameters.
func ExampleNames() {
	for _, name := range objective.Names() {
		info, err := objective.Describe(name)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-21s %-14s %v\n", name, info.Role, info.Default)
	}
	// Output:
	// softmax               base loss      map[]
	// label_smoothing       base loss      map[alpha:0.1 rescale:1]
	// sigmoid               base loss      map[offset:1]
	// extra_final_layer_l2  weight penalty map[lambda:0.0008]
	// dropout               head change    map[keep_prob:0.7]
	// logit_penalty         logit term     map[beta:0.0006]
	// logit_normalization   base loss      map[tau:0.04]
	// cosine_softmax        head change    map[normalize_features:1 tau:0.05]
	// squared_error         base loss      map[kappa:9 scale:10 target:60]
}

// A "+"-stack combines a base loss with terms and head changes; a key
// that only one part accepts may be given plainly, or qualified by the
// part's name. Here the logit penalty adds β·mean‖z‖²/2 = 0.01·3.75/2 =
// 0.01875 to the label-smoothing loss above (0.7089).
func ExampleNew_stack() {
	obj, err := objective.New("label_smoothing+logit_penalty", map[string]float64{"beta": 0.01, "label_smoothing.alpha": 0.2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(obj.Name(), obj.Hyperparams())
	z := tensor.FromData([]float32{2, 0, -1, 0.5, 1.5, 0}, 2, 3)
	fmt.Printf("loss %.4f\n", obj.Loss(z, []int{0, 1}, nil))
	// Output:
	// label_smoothing+logit_penalty map[alpha:0.2 beta:0.01 rescale:1]
	// loss 0.7276
}
