package corrupt

import (
	"fmt"
	"slices"
	"strings"
)

// Groups lists the group names that Expand accepts besides corruption
// names: "all" (All), "common" (Common) and "mnist-c" (MNISTCNames).
var Groups = []string{"all", "common", "mnist-c"}

// group returns the corruptions of a group name, or false.
func group(name string) ([]string, bool) {
	switch name {
	case "all":
		return All(), true
	case "common":
		return Common(), true
	case "mnist-c":
		return MNISTCNames(), true
	}
	return nil, false
}

// Expand resolves a list of corruption names and groups (Groups) to
// corruption names: in the order given, each group replaced by its
// corruptions in its own order (as All, Common and MNISTCNames list them),
// and a name that comes again dropped (its first place kept). An unknown
// name is an error listing the groups and the names.
func Expand(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		g, ok := group(n)
		if !ok {
			if Lookup(n) == nil {
				return nil, fmt.Errorf("unknown corruption %q; valid: the groups %s, or the names %s",
					n, strings.Join(Groups, ", "), strings.Join(All(), ", "))
			}
			g = []string{n}
		}
		for _, c := range g {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}
