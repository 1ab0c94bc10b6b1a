package params

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	"k8s.io/utils/lru"

	"github.com/aias-dev/aias/internal/deliveryexpr"
)

// Concurrency keys are CEL over the Run's resolved params: params.branch, or
// params.env + "/" + params.branch. A key is short text; the cost limit only stops a
// runaway expression.
const (
	keyCostLimit  = 100_000
	maxKeyLength  = 1024
	maxCachedKeys = 1024
)

var keyEnv = func() *cel.Env {
	e, err := cel.NewEnv(cel.Variable("params", cel.MapType(cel.StringType, cel.StringType)), ext.Strings())
	if err != nil {
		panic(err)
	}
	return e
}()

var (
	keyMu    sync.Mutex
	keyCache = lru.New(maxCachedKeys) // expression → cel.Program or error
)

// CompileKey checks a spec.concurrency.key expression.
func CompileKey(expr string) error {
	_, err := keyProgram(expr)
	return err
}

func keyProgram(expr string) (cel.Program, error) {
	keyMu.Lock()
	defer keyMu.Unlock()
	if v, ok := keyCache.Get(expr); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(cel.Program), nil
	}
	prg, err := compileKey(expr)
	if err != nil {
		keyCache.Add(expr, err)
		return nil, err
	}
	keyCache.Add(expr, prg)
	return prg, nil
}

func compileKey(expr string) (cel.Program, error) {
	ast, iss := keyEnv.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("spec.concurrency.key: %s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	return keyEnv.Program(ast, cel.CostLimit(keyCostLimit))
}

// Key evaluates a spec.concurrency.key expression over resolved parameter values. An
// empty expression is the empty key (one key for the whole Workflow).
func Key(expr string, values map[string]string) (string, error) {
	if strings.TrimSpace(expr) == "" {
		return "", nil
	}
	prg, err := keyProgram(expr)
	if err != nil {
		return "", err
	}
	if values == nil {
		values = map[string]string{}
	}
	v, _, err := prg.Eval(map[string]any{"params": values})
	if err != nil {
		return "", fmt.Errorf("spec.concurrency.key: %w", err)
	}
	s, err := deliveryexpr.Text(v, maxKeyLength)
	if err != nil {
		return "", fmt.Errorf("spec.concurrency.key %w", err)
	}
	return s, nil
}
