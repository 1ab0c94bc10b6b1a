package hooks

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
)

// maxCachedPrograms bounds the compiled filters and params kept: one per endpoint
// version that receives deliveries; a miss costs one compile.
const maxCachedPrograms = 1024

// programs caches each endpoint version's compiled expressions, least recently used out.
type programs struct {
	once sync.Once
	c    *lru.Cache
}

type programKey struct {
	uid        types.UID
	generation int64
}

type compiled struct {
	prg *deliveryexpr.Program
	err error
}

// For returns ep's compiled filter and params (or why they do not compile).
func (p *programs) For(ep *aiasv1alpha1.WebhookEndpoint) (*deliveryexpr.Program, error) {
	p.once.Do(func() { p.c = lru.New(maxCachedPrograms) })
	// The generation changes with every spec edit; a spec read without one (a test's
	// hand-made object) is compiled each time.
	key := programKey{ep.UID, ep.Generation}
	if ep.Generation != 0 {
		if v, ok := p.c.Get(key); ok {
			c := v.(compiled)
			return c.prg, c.err
		}
	}
	prg, err := deliveryexpr.Compile(&ep.Spec)
	if err != nil {
		err = fmt.Errorf("the endpoint's %w (see its Ready condition)", err)
	}
	if ep.Generation != 0 {
		p.c.Add(key, compiled{prg, err})
	}
	return prg, err
}
