package train

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/losslab/losslab/objective"
)

// UnknownKeyError is the error of Config.Set for a key that is not a
// settable config.json field name.
type UnknownKeyError struct {
	Key   string
	Valid []string // ConfigKeys
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("unknown config key %q; valid keys: %s", e.Key, strings.Join(e.Valid, ", "))
}

// Set sets the field whose config.json name is key (ConfigKeys). The value
// is either text, as on a command line, or a typed value, as decoded from
// YAML or JSON.
//
// Text is parsed by the field's type: numbers as Go parses them (strconv),
// booleans as true/false (or 1/0, on/off), step_epochs as comma-separated
// integers (empty: none); a string field takes the text as it is.
//
// A typed value must fit the field: an integer field takes any integer, or
// a float with an integral value (2.0, not 2.5); seed takes a non-negative
// one; a float field takes any number; a boolean field a bool; step_epochs
// a list of integers (such as YAML's []any); a string field a string. A
// nil value is an error.
//
// An unknown key is an *UnknownKeyError listing the valid ones; a value
// that does not fit is an error naming the key and what it wants. Ranges
// are checked later by Validate.
func (c *Config) Set(key string, value any) error {
	i, ok := settable[key]
	if !ok {
		return &UnknownKeyError{Key: key, Valid: ConfigKeys()}
	}
	f := reflect.ValueOf(c).Elem().Field(i)
	if v := reflect.ValueOf(value); v.Kind() == reflect.String {
		return setText(f, key, v.String())
	}
	return setTyped(f, key, value)
}

// setText sets f from its text form.
func setText(f reflect.Value, key, value string) error {
	bad := func(want string) error { return fmt.Errorf("config key %s: %q is not %s", key, value, want) }
	switch f.Kind() {
	case reflect.String:
		f.SetString(value)
	case reflect.Int:
		v, err := strconv.Atoi(value)
		if err != nil {
			return bad("an integer")
		}
		f.SetInt(int64(v))
	case reflect.Uint64:
		v, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return bad("an unsigned integer")
		}
		f.SetUint(v)
	case reflect.Float64:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return bad("a number")
		}
		f.SetFloat(v)
	case reflect.Bool:
		switch value {
		case "true", "1", "on":
			f.SetBool(true)
		case "false", "0", "off":
			f.SetBool(false)
		default:
			return bad("true or false")
		}
	case reflect.Slice: // step_epochs
		var epochs []int
		if value != "" {
			for _, s := range strings.Split(value, ",") {
				v, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil {
					return bad("a comma-separated list of integers")
				}
				epochs = append(epochs, v)
			}
		}
		f.Set(reflect.ValueOf(epochs))
	default:
		panic(fmt.Sprintf("train: config field %s of unsupported kind %v", key, f.Kind()))
	}
	return nil
}

// setTyped sets f from a typed value (not a string).
func setTyped(f reflect.Value, key string, value any) error {
	bad := func(want string) error { return fmt.Errorf("config key %s: %v is not %s", key, value, want) }
	if value == nil {
		return fmt.Errorf("config key %s: no value", key)
	}
	v := reflect.ValueOf(value)
	switch f.Kind() {
	case reflect.String:
		return bad("a string")
	case reflect.Int:
		n, ok := toInt(v)
		if !ok || n < math.MinInt || n > math.MaxInt {
			return bad("an integer")
		}
		f.SetInt(n)
	case reflect.Uint64:
		n, ok := toUint(v)
		if !ok {
			return bad("an unsigned integer")
		}
		f.SetUint(n)
	case reflect.Float64:
		x, ok := toFloat(v)
		if !ok {
			return bad("a number")
		}
		f.SetFloat(x)
	case reflect.Bool:
		if v.Kind() != reflect.Bool {
			return bad("true or false")
		}
		f.SetBool(v.Bool())
	case reflect.Slice: // step_epochs
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return bad("a list of integers")
		}
		epochs := make([]int, 0, v.Len())
		for j := range v.Len() {
			e := v.Index(j)
			if e.Kind() == reflect.Interface {
				e = e.Elem()
			}
			n, ok := toInt(e)
			if !ok || n < math.MinInt || n > math.MaxInt {
				return bad("a list of integers")
			}
			epochs = append(epochs, int(n))
		}
		f.Set(reflect.ValueOf(epochs))
	default:
		panic(fmt.Sprintf("train: config field %s of unsupported kind %v", key, f.Kind()))
	}
	return nil
}

// toInt converts an integer, or a float with an integral value, to int64.
func toInt(v reflect.Value) (int64, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		return int64(u), u <= math.MaxInt64
	case reflect.Float32, reflect.Float64:
		x := v.Float()
		// -2⁶³ and 2⁶³ are exact in float64; every integral value in
		// between converts exactly.
		if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// toUint converts a non-negative integer, or a non-negative float with an
// integral value, to uint64.
func toUint(v reflect.Value) (uint64, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		return uint64(n), n >= 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint(), true
	case reflect.Float32, reflect.Float64:
		x := v.Float()
		if x != math.Trunc(x) || x < 0 || x >= 1<<64 {
			return 0, false
		}
		return uint64(x), true
	}
	return 0, false
}

// toFloat converts any number to float64.
func toFloat(v reflect.Value) (float64, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(v.Uint()), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	return 0, false
}

// Override is one key=value override for ApplyOverrides: a config key
// (ConfigKeys) or a hyperparameter of the config's objective. Value is text
// or a typed value, as for Config.Set.
type Override struct {
	Key   string
	Value any
}

// OverrideError is the error of ApplyOverrides for an override whose value
// does not fit its key.
type OverrideError struct {
	Key   string
	Value any
	Err   error
}

func (e *OverrideError) Error() string { return fmt.Sprintf("%s=%v: %v", e.Key, e.Value, e.Err) }
func (e *OverrideError) Unwrap() error { return e.Err }

// UnknownOverrideError is the error of ApplyOverrides for a key that is
// neither a config key nor a hyperparameter of the objective. It lists
// both: the config keys here, the objective's keys in Err (an
// *objective.UnknownHyperparameterError).
type UnknownOverrideError struct {
	Key        string
	Objective  string
	ConfigKeys []string
	Err        error
}

func (e *UnknownOverrideError) Error() string {
	return fmt.Sprintf("%s: not a config key nor a hyperparameter of objective %s (%v); config keys: %s",
		e.Key, e.Objective, e.Err, strings.Join(e.ConfigKeys, ", "))
}
func (e *UnknownOverrideError) Unwrap() error { return e.Err }

// ApplyOverrides returns c with the overrides applied: first every config
// key, in order, by Config.Set; then every other key as a hyperparameter
// of c.Objective, added to c.ObjectiveParams (a later value of the same key
// wins). A hyperparameter's value is a number, or true/false (1/0): as
// text, a number as Go parses it or true/on/false/off. It neither fills
// defaults nor validates (Resolved, Validate). On error it returns c as
// given.
//
// Errors: an override whose value does not fit is an *OverrideError; a key
// that is neither a config key nor a hyperparameter of the objective is an
// *UnknownOverrideError; an invalid objective name is objective.New's error.
// Out-of-range hyperparameters are left to Validate.
func ApplyOverrides(c Config, kvs []Override) (Config, error) {
	orig := c
	var hyper []Override
	for _, kv := range kvs {
		err := c.Set(kv.Key, kv.Value)
		var unknown *UnknownKeyError
		switch {
		case errors.As(err, &unknown):
			hyper = append(hyper, kv)
		case err != nil:
			return orig, &OverrideError{Key: kv.Key, Value: kv.Value, Err: err}
		}
	}
	if len(hyper) == 0 {
		return c, nil
	}
	if _, err := objective.New(c.Objective, nil); err != nil {
		return orig, err
	}
	params := make(map[string]float64, len(c.ObjectiveParams)+len(hyper))
	for k, v := range c.ObjectiveParams {
		params[k] = v
	}
	for _, kv := range hyper {
		v, err := hyperparameterValue(kv.Key, kv.Value)
		if err != nil {
			return orig, &OverrideError{Key: kv.Key, Value: kv.Value, Err: err}
		}
		params[kv.Key] = v
	}
	for _, kv := range hyper {
		_, err := objective.New(c.Objective, map[string]float64{kv.Key: params[kv.Key]})
		var unknown *objective.UnknownHyperparameterError
		if errors.As(err, &unknown) {
			return orig, &UnknownOverrideError{Key: kv.Key, Objective: c.Objective, ConfigKeys: ConfigKeys(), Err: err}
		}
	}
	c.ObjectiveParams = params
	return c, nil
}

// hyperparameterValue reads an objective hyperparameter: a number, or a
// boolean as 1 or 0.
func hyperparameterValue(key string, value any) (float64, error) {
	switch x := value.(type) {
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return f, nil
		}
		switch x {
		case "true", "on":
			return 1, nil
		case "false", "off":
			return 0, nil
		}
		return 0, fmt.Errorf("%s: want a number (or true/false), got %q", key, x)
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	if value != nil {
		if f, ok := toFloat(reflect.ValueOf(value)); ok {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%s: want a number (or true/false), got %v", key, value)
}
