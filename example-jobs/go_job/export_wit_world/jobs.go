// Package export_wit_world implements the `job` world's exports for the plugin
// wasmcron.examples.go. It takes the place of the stub file `wit-bindgen go` generates in
// this package (build.sh leaves the stub out).
package export_wit_world

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode"

	"wit_component/wasmcron_job_host"
	"wit_component/wasmcron_job_types"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

type (
	JobClass = wasmcron_job_types.JobClass
	Argument = wasmcron_job_types.Argument
	Context  = wasmcron_job_types.Context
)

// The JSON Schemas of the classes' arguments: the server checks a job's pub_args against
// its class's when the job is saved, and refuses a mismatch naming the field. The checks
// in the classes stay, for `wasmcron run --args` and hosts that pass arguments unchecked.
const (
	wordFrequencySchema = `{"type": "object",
 "properties": {
   "text": {"type": "string", "description": "The text to count the words of."},
   "k": {"type": "integer", "minimum": 1, "description": "How many words to return (default 10)."}},
 "required": ["text"], "additionalProperties": false}`
	sumDurationsSchema = `{"type": "object",
 "properties": {
   "durations": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                 "description": "The durations to add, like \"1h30m\"."}},
 "required": ["durations"], "additionalProperties": false}`
)

// Describe lists the classes (called once, when the plugin is installed).
func Describe() []JobClass {
	return []JobClass{
		{
			Name: "WordFrequency",
			Notes: "Counts the words of a text, case-folded (a word is a run of letters " +
				"and digits), and returns the k most frequent, ties in alphabetical order.",
			Arguments: []Argument{
				{Name: "text", Type: "string", Description: "The text to count the words of."},
				{Name: "k", Type: "integer", Description: "How many words to return, at least 1 (default 10)."},
			},
			ExampleArguments: `{"text": "the cat and the hat and the bat", "k": 2}`,
			ArgumentsSchema:  witTypes.Some(wordFrequencySchema),
		},
		{
			Name: "SumDurations",
			Notes: "Adds up durations written the Go way (\"1h30m\", \"45s\", \"250ms\", " +
				"\"-2m\") and returns the total as such a string and in seconds.",
			Arguments: []Argument{
				{Name: "durations", Type: "array of strings", Description: "The durations to add (at least one)."},
			},
			ExampleArguments: `{"durations": ["1h30m", "45s", "250ms"]}`,
			ArgumentsSchema:  witTypes.Some(sumDurationsSchema),
		},
	}
}

// Run runs class once with args, the job's pub_args as JSON text.
func Run(ctx Context, class string, args string) witTypes.Result[string, string] {
	var result any
	var err error
	switch class {
	case "WordFrequency":
		result, err = wordFrequency(args)
	case "SumDurations":
		result, err = sumDurations(args)
	default:
		err = fmt.Errorf("unknown class %q (this plugin has WordFrequency and SumDurations)", class)
	}
	if err != nil {
		return witTypes.Err[string, string](err.Error())
	}
	out, err := json.Marshal(result)
	if err != nil {
		return witTypes.Err[string, string]("encoding the result: " + err.Error())
	}
	return witTypes.Ok[string, string](string(out))
}

func info(format string, a ...any) {
	wasmcron_job_host.Log(wasmcron_job_types.Level_Info, fmt.Sprintf(format, a...))
}

// decode parses args into target strictly: one JSON object, no unknown fields.
func decode(args string, target any) error {
	decoder := json.NewDecoder(strings.NewReader(args))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(target); err != nil {
		return fmt.Errorf("bad arguments: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if decoder.More() {
		return fmt.Errorf("bad arguments: extra data after the JSON object")
	}
	return nil
}

type wordFrequencyArgs struct {
	Text *string `json:"text"`
	K    *int    `json:"k"`
}

type wordCount struct {
	Word  string `json:"word"`
	Count int    `json:"count"`
}

type wordFrequencyResult struct {
	Words    int         `json:"words"`
	Distinct int         `json:"distinct"`
	Top      []wordCount `json:"top"`
}

func wordFrequency(args string) (any, error) {
	var a wordFrequencyArgs
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	if a.Text == nil {
		return nil, fmt.Errorf("bad arguments: \"text\" (a string) is required")
	}
	k := 10
	if a.K != nil {
		k = *a.K
	}
	if k < 1 {
		return nil, fmt.Errorf("bad arguments: \"k\" must be at least 1, got %d", k)
	}
	info("counting the words of %d bytes of text", len(*a.Text))
	words := strings.FieldsFunc(strings.ToLower(*a.Text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	counts := map[string]int{}
	for _, w := range words {
		counts[w]++
	}
	top := make([]wordCount, 0, len(counts))
	for w, c := range counts {
		top = append(top, wordCount{w, c})
	}
	sort.Slice(top, func(i, j int) bool {
		if top[i].Count != top[j].Count {
			return top[i].Count > top[j].Count
		}
		return top[i].Word < top[j].Word
	})
	if len(top) > k {
		top = top[:k]
	}
	info("%d words, %d distinct", len(words), len(counts))
	return wordFrequencyResult{Words: len(words), Distinct: len(counts), Top: top}, nil
}

type sumDurationsArgs struct {
	Durations *[]string `json:"durations"`
}

type sumDurationsResult struct {
	Count   int     `json:"count"`
	Total   string  `json:"total"`
	Seconds float64 `json:"seconds"`
}

func sumDurations(args string) (any, error) {
	var a sumDurationsArgs
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	if a.Durations == nil || len(*a.Durations) == 0 {
		return nil, fmt.Errorf("bad arguments: \"durations\" (a non-empty array of strings) is required")
	}
	var total time.Duration
	for i, text := range *a.Durations {
		d, err := time.ParseDuration(text)
		if err != nil {
			return nil, fmt.Errorf("durations[%d]: %v", i, err)
		}
		if (d > 0 && total > math.MaxInt64-d) || (d < 0 && total < math.MinInt64-d) {
			return nil, fmt.Errorf("durations: the total is out of range (about ±292 years)")
		}
		total += d
	}
	info("added %d durations: %v", len(*a.Durations), total)
	return sumDurationsResult{Count: len(*a.Durations), Total: total.String(), Seconds: total.Seconds()}, nil
}
