package corrupt

import (
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
)

func TestStreamedDatasetIsRefused(t *testing.T) {
	d := &data.Dataset{Name: "folder", Split: "test", Labels: []int{0}, NumClasses: 1,
		Files: &data.ImageFiles{Paths: []string{"a.jpg"}, Size: 8, Channels: 3}}
	if err := WriteSet(t.TempDir(), d, []string{"gaussian_noise"}, 1, nil); err == nil || !strings.Contains(err.Error(), "streams") {
		t.Errorf("WriteSet: %v; want a refusal naming streaming", err)
	}
	if _, err := Dataset(d, "gaussian_noise", 1, 1); err == nil || !strings.Contains(err.Error(), "streams") {
		t.Errorf("Dataset: %v; want a refusal naming streaming", err)
	}
}
