package terraform

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Owner is the model owner in offer URLs: the admin user that bootstraps a controller and runs Terraform.
const Owner = "admin"

// Deployment is what a root module deploys, in the order Terraform would plan it.
type Deployment struct {
	Models       []*Model
	Apps         []*App
	Offers       []*Offer
	Integrations []*Integration
}

// Model is a juju_model.
type Model struct{ Address, Name, UUID string }

// App is a juju_application.
type App struct {
	Address     string // e.g. module.cos.juju_application.grafana
	ModelUUID   string
	Name        string
	Charm       Charm
	Config      map[string]string
	Constraints string
	Units       int
	Trust       bool
	Resources   map[string]string
}

// Charm is a juju_application's charm block.
type Charm struct {
	Name, Channel, Base string
	Revision            *int64
}

// Offer is a juju_offer.
type Offer struct {
	Address     string
	ModelUUID   string
	Name        string
	Application string
	Endpoints   []string
	URL         string
}

// Integration is a juju_integration.
type Integration struct {
	Address   string
	ModelUUID string
	Ends      []IntegrationEnd
}

// IntegrationEnd is one application block: a local application's endpoint, or an offer URL.
type IntegrationEnd struct{ Name, Endpoint, OfferURL string }

// Result is an evaluated root module.
type Result struct {
	Deployment *Deployment
	Outputs    map[string]cty.Value
}

// ModelName is the name of the model with this UUID.
func (d *Deployment) ModelName(uuid string) string {
	for _, m := range d.Models {
		if m.UUID == uuid {
			return m.Name
		}
	}
	return ""
}

// Evaluate plans the root module m with these variable values (the others take their defaults).
func Evaluate(m *Module, vars map[string]cty.Value) (*Result, error) {
	e := &evaluator{dep: &Deployment{}, loaded: map[string]*Module{}}
	outs, err := e.instance(m, "", vars)
	if err != nil {
		return nil, err
	}
	return &Result{Deployment: e.dep, Outputs: outs}, nil
}

type evaluator struct {
	dep    *Deployment
	loaded map[string]*Module
}

// inst is one module instance being evaluated.
type inst struct {
	e         *evaluator
	m         *Module
	path      string // "" for the root, "module.cos." for a child (with a trailing dot)
	vars      map[string]cty.Value
	locals    map[string]cty.Value
	resources map[string]map[string]cty.Value // type (or "data.type") → name → value
	modules   map[string]cty.Value
	outputs   map[string]cty.Value
}

type node struct {
	key  string // "local.x", "juju_offer.y", "data.juju_model.z", "module.m", "output.o"
	deps []string
	eval func() error
}

func (e *evaluator) instance(m *Module, path string, given map[string]cty.Value) (map[string]cty.Value, error) {
	in := &inst{e: e, m: m, path: path, vars: map[string]cty.Value{}, locals: map[string]cty.Value{},
		resources: map[string]map[string]cty.Value{}, modules: map[string]cty.Value{}, outputs: map[string]cty.Value{}}
	if err := in.setVariables(given); err != nil {
		return nil, err
	}
	nodes, err := in.nodes()
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for len(nodes) > 0 {
		var rest []*node
		for _, n := range nodes {
			ready := true
			for _, d := range n.deps {
				ready = ready && done[d]
			}
			if !ready {
				rest = append(rest, n)
				continue
			}
			if err := n.eval(); err != nil {
				return nil, fmt.Errorf("cannot evaluate %s%s: %w", path, n.key, err)
			}
			done[n.key] = true
		}
		if len(rest) == len(nodes) {
			var keys []string
			for _, n := range rest {
				keys = append(keys, n.key)
			}
			return nil, fmt.Errorf("cannot evaluate %s: a reference cycle among %s", m.Dir, strings.Join(keys, ", "))
		}
		nodes = rest
	}
	return in.outputs, nil
}

func convertTo(v *Variable, val cty.Value) (cty.Value, error) {
	if v.Defaults != nil && !val.IsNull() {
		val = v.Defaults.Apply(val)
	}
	out, err := convert.Convert(val, v.Type)
	if err != nil {
		return cty.NilVal, fmt.Errorf("cannot convert %s to %s: %w", val.Type().FriendlyName(), v.Type.FriendlyName(), err)
	}
	return out, nil
}

func (in *inst) setVariables(given map[string]cty.Value) error {
	for name := range given {
		if in.m.Variables[name] == nil {
			return fmt.Errorf("cannot set variable %q of %s: not declared", name, in.m.Dir)
		}
	}
	for name, v := range in.m.Variables {
		val, ok := given[name]
		switch {
		case ok:
			// A null argument stays null (nullable defaults to true): it does not select the default.
			c, err := convertTo(v, val)
			if err != nil {
				return fmt.Errorf("variable %q of %s: %w", name, in.m.Dir, err)
			}
			val = c
		case v.Default != nil:
			val = *v.Default
		default:
			return fmt.Errorf("variable %q of %s is required and not set", name, in.m.Dir)
		}
		in.vars[name] = val
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": objectOf(in.vars)}}
	for _, name := range sortedKeys(in.m.Variables) {
		for _, val := range in.m.Variables[name].Validations {
			ok, diags := val.Condition.Value(ctx)
			if diags.HasErrors() {
				return fmt.Errorf("variable %q: cannot evaluate its validation: %w", name, diags)
			}
			if ok.IsNull() || ok.Type() != cty.Bool || !ok.True() {
				msg, _ := val.ErrorMessage.Value(ctx)
				text := "(no message)"
				if msg.Type() == cty.String && !msg.IsNull() {
					text = msg.AsString()
				}
				return fmt.Errorf("invalid value for variable %q: %s", name, text)
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func objectOf(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

// exprsOf lists every expression of a body, nested blocks included.
func exprsOf(b *hclsyntax.Body) []hcl.Expression {
	var out []hcl.Expression
	for _, k := range sortedKeys(b.Attributes) {
		out = append(out, b.Attributes[k].Expr)
	}
	for _, blk := range b.Blocks {
		out = append(out, exprsOf(blk.Body)...)
	}
	return out
}

// refs resolves every reference of exprs to a declared object of the module, and returns the nodes they need.
func (in *inst) refs(iterCount, iterEach bool, exprs ...hcl.Expression) ([]string, error) {
	seen := map[string]bool{}
	var deps []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			deps = append(deps, k)
		}
	}
	for _, x := range exprs {
		if x == nil {
			continue
		}
		for _, t := range x.Variables() {
			root := t.RootName()
			attr := func(i int) string {
				if len(t) <= i {
					return ""
				}
				if a, ok := t[i].(hcl.TraverseAttr); ok {
					return a.Name
				}
				return ""
			}
			switch root {
			case "var":
				if in.m.Variables[attr(1)] == nil {
					return nil, fmt.Errorf("%s: reference to undeclared variable %q", t.SourceRange(), attr(1))
				}
			case "local":
				if in.m.Locals[attr(1)] == nil {
					return nil, fmt.Errorf("%s: reference to undeclared local %q", t.SourceRange(), attr(1))
				}
				add("local." + attr(1))
			case "module":
				if in.m.Calls[attr(1)] == nil {
					return nil, fmt.Errorf("%s: reference to undeclared module %q", t.SourceRange(), attr(1))
				}
				add("module." + attr(1))
			case "data":
				k := "data." + attr(1) + "." + attr(2)
				if in.m.Resources[k] == nil {
					return nil, fmt.Errorf("%s: reference to undeclared %s", t.SourceRange(), k)
				}
				add(k)
			case "count":
				if !iterCount {
					return nil, fmt.Errorf("%s: count.index outside a block with count", t.SourceRange())
				}
			case "each":
				if !iterEach {
					return nil, fmt.Errorf("%s: each outside a block with for_each", t.SourceRange())
				}
			default:
				k := root + "." + attr(1)
				if in.m.Resources[k] == nil {
					return nil, fmt.Errorf("%s: reference to undeclared resource %s", t.SourceRange(), k)
				}
				add(k)
			}
		}
	}
	return deps, nil
}

func (in *inst) nodes() ([]*node, error) {
	var nodes []*node
	for _, name := range sortedKeys(in.m.Locals) {
		l := in.m.Locals[name]
		deps, err := in.refs(false, false, l.Expr)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, &node{key: "local." + name, deps: deps, eval: func() error {
			v, diags := l.Expr.Value(in.ctx(nil))
			if diags.HasErrors() {
				return diags
			}
			in.locals[name] = v
			return nil
		}})
	}
	for _, addr := range sortedKeys(in.m.Resources) {
		r := in.m.Resources[addr]
		deps, err := in.refs(r.Count != nil, r.ForEach != nil, append(exprsOf(r.Body), r.DependsOn)...)
		if err != nil {
			return nil, err
		}
		// count and for_each are evaluated without each/count.
		metaDeps, err := in.refs(false, false, r.Count, r.ForEach)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, &node{key: addr, deps: append(deps, metaDeps...), eval: func() error { return in.evalResource(r) }})
	}
	for _, name := range sortedKeys(in.m.Calls) {
		c := in.m.Calls[name]
		var exprs []hcl.Expression
		for _, k := range sortedKeys(c.Args) {
			exprs = append(exprs, c.Args[k].Expr)
		}
		deps, err := in.refs(c.Count != nil, c.ForEach != nil, append(exprs, c.DependsOn)...)
		if err != nil {
			return nil, err
		}
		metaDeps, err := in.refs(false, false, c.Count, c.ForEach)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, &node{key: "module." + name, deps: append(deps, metaDeps...), eval: func() error { return in.evalCall(c) }})
	}
	for _, name := range sortedKeys(in.m.Outputs) {
		o := in.m.Outputs[name]
		deps, err := in.refs(false, false, o.Value)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, &node{key: "output." + name, deps: deps, eval: func() error {
			v, diags := o.Value.Value(in.ctx(nil))
			if diags.HasErrors() {
				return diags
			}
			in.outputs[name] = v
			return nil
		}})
	}
	return nodes, nil
}

// ctx is the evaluation context of the instance, with each or count when iter is set.
func (in *inst) ctx(iter map[string]cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":    objectOf(in.vars),
		"local":  objectOf(in.locals),
		"module": objectOf(in.modules),
	}
	data := map[string]cty.Value{}
	for typ, byName := range in.resources {
		if t, ok := strings.CutPrefix(typ, "data."); ok {
			data[t] = objectOf(byName)
		} else {
			vars[typ] = objectOf(byName)
		}
	}
	vars["data"] = objectOf(data)
	for k, v := range iter {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars}
}

// instanceKey is one instance of a block with count or for_each: its address suffix and its each/count values.
type instanceKey struct {
	suffix string
	key    cty.Value // a number for count, a string for for_each; NilVal for a single instance
	iter   map[string]cty.Value
}

func (in *inst) expand(count, forEach hcl.Expression) ([]instanceKey, error) {
	switch {
	case count != nil:
		v, diags := count.Value(in.ctx(nil))
		if diags.HasErrors() {
			return nil, diags
		}
		v, err := convert.Convert(v, cty.Number)
		if err != nil || v.IsNull() {
			return nil, fmt.Errorf("count is not a number")
		}
		n, _ := v.AsBigFloat().Int64()
		var out []instanceKey
		for i := range n {
			idx := cty.NumberIntVal(i)
			out = append(out, instanceKey{suffix: fmt.Sprintf("[%d]", i), key: idx,
				iter: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": idx})}})
		}
		return out, nil
	case forEach != nil:
		v, diags := forEach.Value(in.ctx(nil))
		if diags.HasErrors() {
			return nil, diags
		}
		if v.IsNull() {
			return nil, fmt.Errorf("for_each is null")
		}
		ty := v.Type()
		if !ty.IsMapType() && !ty.IsObjectType() && !ty.IsSetType() {
			return nil, fmt.Errorf("for_each must be a map, an object or a set of strings, not %s", ty.FriendlyName())
		}
		var out []instanceKey
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if ty.IsSetType() {
				k = val
			}
			if k.Type() != cty.String {
				return nil, fmt.Errorf("for_each keys must be strings")
			}
			out = append(out, instanceKey{suffix: fmt.Sprintf("[%q]", k.AsString()), key: k,
				iter: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})}})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].suffix < out[j].suffix })
		return out, nil
	}
	return []instanceKey{{}}, nil
}

// collect makes the value of a block with these instances: the object itself, a tuple (count) or an object keyed by
// for_each key.
func collect(count, forEach hcl.Expression, keys []instanceKey, vals []cty.Value) cty.Value {
	switch {
	case count != nil:
		if len(vals) == 0 {
			return cty.EmptyTupleVal
		}
		return cty.TupleVal(vals)
	case forEach != nil:
		m := map[string]cty.Value{}
		for i, k := range keys {
			m[k.key.AsString()] = vals[i]
		}
		return objectOf(m)
	}
	return vals[0]
}

func (in *inst) evalResource(r *Resource) error {
	typ := r.Type
	if r.Data {
		typ = "data." + r.Type
	}
	sch, ok := providerSchema[typ]
	if !ok {
		return fmt.Errorf("resource type %s is not one of the juju provider's resources handled here", typ)
	}
	keys, err := in.expand(r.Count, r.ForEach)
	if err != nil {
		return err
	}
	var vals []cty.Value
	for _, k := range keys {
		attrs, err := evalBody(r.Body, sch, in.ctx(k.iter))
		if err != nil {
			return err
		}
		addr := in.path + r.Address() + k.suffix
		if err := in.e.compute(typ, addr, attrs); err != nil {
			return err
		}
		vals = append(vals, cty.ObjectVal(attrs))
	}
	if in.resources[typ] == nil {
		in.resources[typ] = map[string]cty.Value{}
	}
	in.resources[typ][r.Name] = collect(r.Count, r.ForEach, keys, vals)
	return nil
}

// evalBody evaluates a resource body against its schema: every argument is one the provider accepts, the required
// ones are set, and the ones not set are null (as Terraform shows them), so a reference to any schema attribute
// resolves and a reference to anything else fails.
func evalBody(b *hclsyntax.Body, sch schema, ctx *hcl.EvalContext) (map[string]cty.Value, error) {
	known := map[string]bool{}
	for _, a := range append(append(append([]string(nil), sch.Required...), sch.Optional...), sch.Computed...) {
		known[a] = true
	}
	out := map[string]cty.Value{}
	for _, name := range sortedKeys(b.Attributes) {
		a := b.Attributes[name]
		if !known[name] {
			return nil, fmt.Errorf("%s: unsupported argument %q", a.SrcRange, name)
		}
		if containsString(sch.Computed, name) {
			return nil, fmt.Errorf("%s: %q is read-only", a.SrcRange, name)
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, diags
		}
		out[name] = v
	}
	for _, name := range sch.Required {
		if v, ok := out[name]; !ok || v.IsNull() {
			return nil, fmt.Errorf("%s: the required argument %q is not set", b.SrcRange, name)
		}
	}
	for name := range known {
		if _, ok := out[name]; !ok {
			out[name] = cty.NullVal(cty.DynamicPseudoType)
		}
	}
	blocks := map[string][]cty.Value{}
	for _, blk := range b.Blocks {
		inner, ok := sch.Blocks[blk.Type]
		if !ok {
			return nil, fmt.Errorf("%s: unsupported block %q", blk.DefRange(), blk.Type)
		}
		v, err := evalBody(blk.Body, inner, ctx)
		if err != nil {
			return nil, err
		}
		blocks[blk.Type] = append(blocks[blk.Type], cty.ObjectVal(v))
	}
	for name := range sch.Blocks {
		if len(blocks[name]) == 0 {
			out[name] = cty.EmptyTupleVal
		} else {
			out[name] = cty.TupleVal(blocks[name])
		}
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fakeUUID stands for the UUID Juju gives a new model: a v4-shaped UUID derived from the model's name, so the
// evaluation is deterministic.
func fakeUUID(name string) string {
	h := sha256.Sum256([]byte("juju-model:" + name))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func str(v cty.Value) string {
	if v.IsNull() || !v.IsKnown() {
		return ""
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return ""
	}
	return s.AsString()
}

// compute sets what the provider computes for a resource, and records it in the deployment.
func (e *evaluator) compute(typ, addr string, attrs map[string]cty.Value) error {
	d := e.dep
	switch typ {
	case "juju_model":
		name := str(attrs["name"])
		if d.ModelName(fakeUUID(name)) != "" {
			return fmt.Errorf("model %q declared twice", name)
		}
		m := &Model{Address: addr, Name: name, UUID: fakeUUID(name)}
		attrs["uuid"], attrs["id"], attrs["type"] = cty.StringVal(m.UUID), cty.StringVal(m.UUID), cty.StringVal("caas")
		d.Models = append(d.Models, m)
	case "data.juju_model":
		for _, m := range d.Models {
			if m.Name == str(attrs["name"]) || m.UUID == str(attrs["uuid"]) {
				attrs["name"], attrs["uuid"], attrs["id"] = cty.StringVal(m.Name), cty.StringVal(m.UUID), cty.StringVal(m.UUID)
				attrs["owner"] = cty.StringVal(Owner)
				return nil
			}
		}
		return fmt.Errorf("no model named %q or with UUID %q", str(attrs["name"]), str(attrs["uuid"]))
	case "juju_application":
		a := &App{Address: addr, ModelUUID: str(attrs["model_uuid"]), Constraints: str(attrs["constraints"]), Units: 1}
		if d.ModelName(a.ModelUUID) == "" {
			return fmt.Errorf("model_uuid %q is no model's", a.ModelUUID)
		}
		charms := attrs["charm"].AsValueSlice()
		if len(charms) != 1 {
			return fmt.Errorf("want one charm block, got %d", len(charms))
		}
		c := charms[0]
		a.Charm = Charm{Name: str(c.GetAttr("name")), Channel: str(c.GetAttr("channel")), Base: str(c.GetAttr("base"))}
		if rv := c.GetAttr("revision"); !rv.IsNull() {
			n, err := convert.Convert(rv, cty.Number)
			if err != nil {
				return fmt.Errorf("charm revision: %w", err)
			}
			i, _ := n.AsBigFloat().Int64()
			a.Charm.Revision = &i
		}
		a.Name = str(attrs["name"])
		if a.Name == "" {
			a.Name = a.Charm.Name
			attrs["name"] = cty.StringVal(a.Name)
		}
		var err error
		if a.Config, err = stringMap(attrs["config"]); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if a.Resources, err = stringMap(attrs["resources"]); err != nil {
			return fmt.Errorf("resources: %w", err)
		}
		if u := attrs["units"]; !u.IsNull() {
			n, err := convert.Convert(u, cty.Number)
			if err != nil {
				return fmt.Errorf("units: %w", err)
			}
			bf := n.AsBigFloat()
			if !bf.IsInt() {
				return fmt.Errorf("units is not a whole number")
			}
			i, _ := bf.Int64()
			a.Units = int(i)
		}
		if t := attrs["trust"]; !t.IsNull() {
			b, err := convert.Convert(t, cty.Bool)
			if err != nil {
				return fmt.Errorf("trust: %w", err)
			}
			a.Trust = b.True()
		}
		for _, o := range d.Apps {
			if o.ModelUUID == a.ModelUUID && o.Name == a.Name {
				return fmt.Errorf("application %q is already declared by %s", a.Name, o.Address)
			}
		}
		attrs["id"] = cty.StringVal(a.ModelUUID + ":" + a.Name)
		attrs["model_type"] = cty.StringVal("caas")
		d.Apps = append(d.Apps, a)
	case "juju_offer":
		o := &Offer{Address: addr, ModelUUID: str(attrs["model_uuid"]), Name: str(attrs["name"]), Application: str(attrs["application_name"])}
		model := d.ModelName(o.ModelUUID)
		if model == "" {
			return fmt.Errorf("model_uuid %q is no model's", o.ModelUUID)
		}
		for it := attrs["endpoints"].ElementIterator(); it.Next(); {
			_, ep := it.Element()
			o.Endpoints = append(o.Endpoints, str(ep))
		}
		if o.Name == "" {
			o.Name = o.Application
			attrs["name"] = cty.StringVal(o.Name)
		}
		// The URL Juju gives an offer: <owner>/<model>.<offer name> (juju/juju core/crossmodel/offerurl.go, MakeURL
		// and OfferURL.Path); the provider reads it back as the offer's url.
		o.URL = Owner + "/" + model + "." + o.Name
		for _, x := range d.Offers {
			if x.URL == o.URL {
				return fmt.Errorf("offer %s is already declared by %s", o.URL, x.Address)
			}
		}
		attrs["url"], attrs["id"] = cty.StringVal(o.URL), cty.StringVal(o.URL)
		d.Offers = append(d.Offers, o)
	case "juju_integration":
		in := &Integration{Address: addr, ModelUUID: str(attrs["model_uuid"])}
		if d.ModelName(in.ModelUUID) == "" {
			return fmt.Errorf("model_uuid %q is no model's", in.ModelUUID)
		}
		var ids []string
		for _, end := range attrs["application"].AsValueSlice() {
			ie := IntegrationEnd{Name: str(end.GetAttr("name")), Endpoint: str(end.GetAttr("endpoint")), OfferURL: str(end.GetAttr("offer_url"))}
			if (ie.OfferURL != "") == (ie.Name != "" || ie.Endpoint != "") {
				return fmt.Errorf("an application block has either offer_url, or name and endpoint")
			}
			in.Ends = append(in.Ends, ie)
			ids = append(ids, ie.Name+":"+ie.Endpoint+ie.OfferURL)
		}
		if len(in.Ends) != 2 {
			return fmt.Errorf("want two application blocks, got %d", len(in.Ends))
		}
		attrs["id"] = cty.StringVal(in.ModelUUID + ":" + strings.Join(ids, ":"))
		d.Integrations = append(d.Integrations, in)
	}
	return nil
}

func stringMap(v cty.Value) (map[string]string, error) {
	out := map[string]string{}
	if v.IsNull() {
		return out, nil
	}
	m, err := convert.Convert(v, cty.Map(cty.String))
	if err != nil {
		return nil, err
	}
	for k, x := range m.AsValueMap() {
		out[k] = x.AsString()
	}
	return out, nil
}

func (in *inst) evalCall(c *Call) error {
	if !LocalSource(c.Source) {
		return fmt.Errorf("module %q: source %q is not a local path", c.Name, c.Source)
	}
	dir := filepath.Clean(filepath.Join(in.m.Dir, c.Source))
	child := in.e.loaded[dir]
	if child == nil {
		var err error
		if child, err = Load(dir); err != nil {
			return err
		}
		in.e.loaded[dir] = child
	}
	keys, err := in.expand(c.Count, c.ForEach)
	if err != nil {
		return err
	}
	var vals []cty.Value
	for _, k := range keys {
		args := map[string]cty.Value{}
		ctx := in.ctx(k.iter)
		for _, name := range sortedKeys(c.Args) {
			v, diags := c.Args[name].Expr.Value(ctx)
			if diags.HasErrors() {
				return diags
			}
			args[name] = v
		}
		outs, err := in.e.instance(child, in.path+"module."+c.Name+k.suffix+".", args)
		if err != nil {
			return err
		}
		vals = append(vals, objectOf(outs))
	}
	in.modules[c.Name] = collect(c.Count, c.ForEach, keys, vals)
	return nil
}
