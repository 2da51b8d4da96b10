// Package terraform reads the repository's Terraform modules (terraform/ and examples/) with HCL's own parser and
// evaluates them the way Terraform plans them, far enough to know what they deploy: variables with their types,
// defaults and validations, locals, count and for_each, local module calls, and the juju provider's resources
// (juju_model, juju_application, juju_offer, juju_integration) with the attributes the provider computes. Every
// reference must resolve to something declared, and every resource argument must be one of the provider's schema.
// Tests turn the result into a simulator scenario, so what the modules deploy is what the tests deploy.
package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Module is one directory of .tf files.
type Module struct {
	Dir       string
	Files     []string // the .tf files, sorted
	Variables map[string]*Variable
	Locals    map[string]*Local
	Resources map[string]*Resource // by address: "juju_application.x", "data.juju_model.y"
	Calls     map[string]*Call
	Outputs   map[string]*Output
	// Providers is terraform.required_providers: local name → source and version constraint.
	Providers map[string]Provider
}

// Provider is one entry of required_providers.
type Provider struct{ Source, Version string }

// Variable is a variable block.
type Variable struct {
	Name        string
	Type        cty.Type // cty.DynamicPseudoType when the block has no type
	TypeExpr    hcl.Expression
	Defaults    *typeexpr.Defaults
	Default     *cty.Value // nil: no default (required)
	Description string
	Validations []Validation
}

// Validation is a variable's validation block.
type Validation struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
}

// Local is one entry of a locals block.
type Local struct {
	Name string
	Expr hcl.Expression
}

// Resource is a resource or data block.
type Resource struct {
	Data       bool
	Type, Name string
	Count      hcl.Expression // nil when absent
	ForEach    hcl.Expression
	DependsOn  hcl.Expression
	Body       *hclsyntax.Body // with the meta-arguments left out
	DeclRange  hcl.Range
}

// Address is how expressions refer to the resource: "juju_offer.x" or "data.juju_model.x".
func (r *Resource) Address() string {
	if r.Data {
		return "data." + r.Type + "." + r.Name
	}
	return r.Type + "." + r.Name
}

// Call is a module block.
type Call struct {
	Name      string
	Source    string
	Count     hcl.Expression
	ForEach   hcl.Expression
	DependsOn hcl.Expression
	Args      map[string]*hclsyntax.Attribute
	DeclRange hcl.Range
}

// Output is an output block.
type Output struct {
	Name        string
	Value       hcl.Expression
	Description string
}

// Load parses every .tf file of dir.
func Load(dir string) (*Module, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("cannot load module %s: no .tf files", dir)
	}
	sort.Strings(files)
	m := &Module{Dir: dir, Files: files, Variables: map[string]*Variable{}, Locals: map[string]*Local{},
		Resources: map[string]*Resource{}, Calls: map[string]*Call{}, Outputs: map[string]*Output{}, Providers: map[string]Provider{}}
	p := hclparse.NewParser()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", f, err)
		}
		file, diags := p.ParseHCL(src, f)
		if diags.HasErrors() {
			return nil, fmt.Errorf("cannot parse %s: %w", f, diags)
		}
		if err := m.addFile(file.Body.(*hclsyntax.Body)); err != nil {
			return nil, fmt.Errorf("cannot load %s: %w", f, err)
		}
	}
	return m, nil
}

func (m *Module) addFile(body *hclsyntax.Body) error {
	if len(body.Attributes) > 0 {
		for name, a := range body.Attributes {
			return fmt.Errorf("%s: unexpected top-level argument %q", a.SrcRange, name)
		}
	}
	for _, b := range body.Blocks {
		var err error
		switch b.Type {
		case "terraform":
			err = m.addTerraform(b)
		case "variable":
			err = m.addVariable(b)
		case "locals":
			for name, a := range b.Body.Attributes {
				if m.Locals[name] != nil {
					return fmt.Errorf("%s: duplicate local %q", a.SrcRange, name)
				}
				m.Locals[name] = &Local{Name: name, Expr: a.Expr}
			}
		case "resource", "data":
			err = m.addResource(b)
		case "module":
			err = m.addCall(b)
		case "output":
			err = m.addOutput(b)
		default:
			err = fmt.Errorf("%s: unsupported block %q", b.DefRange(), b.Type)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) addTerraform(b *hclsyntax.Block) error {
	for _, inner := range b.Body.Blocks {
		if inner.Type != "required_providers" {
			continue
		}
		for name, a := range inner.Body.Attributes {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				return fmt.Errorf("cannot evaluate required provider %q: %w", name, diags)
			}
			if !v.Type().IsObjectType() {
				return fmt.Errorf("%s: required provider %q is not an object", a.SrcRange, name)
			}
			var p Provider
			if v.Type().HasAttribute("source") {
				p.Source = v.GetAttr("source").AsString()
			}
			if v.Type().HasAttribute("version") {
				p.Version = v.GetAttr("version").AsString()
			}
			m.Providers[name] = p
		}
	}
	return nil
}

func label(b *hclsyntax.Block, n int) (string, error) {
	if len(b.Labels) != n {
		return "", fmt.Errorf("%s: a %s block takes %d labels", b.DefRange(), b.Type, n)
	}
	return b.Labels[n-1], nil
}

func stringAttr(body *hclsyntax.Body, name string) (string, error) {
	a := body.Attributes[name]
	if a == nil {
		return "", nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return "", fmt.Errorf("cannot evaluate %s: %w", name, diags)
	}
	if v.Type() != cty.String || v.IsNull() {
		return "", fmt.Errorf("%s: %s must be a string", a.SrcRange, name)
	}
	return v.AsString(), nil
}

func (m *Module) addVariable(b *hclsyntax.Block) error {
	name, err := label(b, 1)
	if err != nil {
		return err
	}
	if m.Variables[name] != nil {
		return fmt.Errorf("%s: duplicate variable %q", b.DefRange(), name)
	}
	v := &Variable{Name: name, Type: cty.DynamicPseudoType}
	for an, a := range b.Body.Attributes {
		switch an {
		case "type":
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			if diags.HasErrors() {
				return fmt.Errorf("variable %q: cannot read its type: %w", name, diags)
			}
			v.Type, v.Defaults, v.TypeExpr = ty, defaults, a.Expr
		case "default":
			d, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				return fmt.Errorf("variable %q: cannot evaluate its default: %w", name, diags)
			}
			v.Default = &d
		case "description":
			if v.Description, err = stringAttr(b.Body, an); err != nil {
				return err
			}
		case "sensitive", "nullable", "ephemeral":
		default:
			return fmt.Errorf("%s: variable %q: unsupported argument %q", a.SrcRange, name, an)
		}
	}
	if v.Default != nil && v.Type != cty.DynamicPseudoType {
		d, err := convertTo(v, *v.Default)
		if err != nil {
			return fmt.Errorf("variable %q: its default does not match its type: %w", name, err)
		}
		v.Default = &d
	}
	for _, inner := range b.Body.Blocks {
		if inner.Type != "validation" {
			return fmt.Errorf("%s: variable %q: unsupported block %q", inner.DefRange(), name, inner.Type)
		}
		c, e := inner.Body.Attributes["condition"], inner.Body.Attributes["error_message"]
		if c == nil || e == nil {
			return fmt.Errorf("%s: variable %q: a validation needs condition and error_message", inner.DefRange(), name)
		}
		v.Validations = append(v.Validations, Validation{Condition: c.Expr, ErrorMessage: e.Expr})
	}
	m.Variables[name] = v
	return nil
}

// splitMeta separates the meta-arguments Terraform itself reads from a resource or module block.
func splitMeta(body *hclsyntax.Body) (count, forEach, dependsOn hcl.Expression, rest *hclsyntax.Body, err error) {
	rest = &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: body.SrcRange, EndRange: body.EndRange}
	for name, a := range body.Attributes {
		switch name {
		case "count":
			count = a.Expr
		case "for_each":
			forEach = a.Expr
		case "depends_on":
			dependsOn = a.Expr
		case "provider", "providers":
			return nil, nil, nil, nil, fmt.Errorf("%s: %s is not supported here", a.SrcRange, name)
		default:
			rest.Attributes[name] = a
		}
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "lifecycle":
		case "dynamic":
			return nil, nil, nil, nil, fmt.Errorf("%s: dynamic blocks are not supported here", b.DefRange())
		default:
			rest.Blocks = append(rest.Blocks, b)
		}
	}
	if count != nil && forEach != nil {
		return nil, nil, nil, nil, fmt.Errorf("%s: count and for_each together", body.SrcRange)
	}
	return count, forEach, dependsOn, rest, nil
}

func (m *Module) addResource(b *hclsyntax.Block) error {
	if len(b.Labels) != 2 {
		return fmt.Errorf("%s: a %s block takes 2 labels", b.DefRange(), b.Type)
	}
	r := &Resource{Data: b.Type == "data", Type: b.Labels[0], Name: b.Labels[1], DeclRange: b.DefRange()}
	var err error
	if r.Count, r.ForEach, r.DependsOn, r.Body, err = splitMeta(b.Body); err != nil {
		return err
	}
	if m.Resources[r.Address()] != nil {
		return fmt.Errorf("%s: duplicate %s", b.DefRange(), r.Address())
	}
	m.Resources[r.Address()] = r
	return nil
}

func (m *Module) addCall(b *hclsyntax.Block) error {
	name, err := label(b, 1)
	if err != nil {
		return err
	}
	if m.Calls[name] != nil {
		return fmt.Errorf("%s: duplicate module %q", b.DefRange(), name)
	}
	c := &Call{Name: name, Args: map[string]*hclsyntax.Attribute{}, DeclRange: b.DefRange()}
	count, forEach, dependsOn, rest, err := splitMeta(b.Body)
	if err != nil {
		return err
	}
	c.Count, c.ForEach, c.DependsOn = count, forEach, dependsOn
	if len(rest.Blocks) > 0 {
		return fmt.Errorf("%s: module %q: unexpected block %q", rest.Blocks[0].DefRange(), name, rest.Blocks[0].Type)
	}
	for an, a := range rest.Attributes {
		switch an {
		case "source":
			if c.Source, err = stringAttr(rest, an); err != nil {
				return err
			}
		case "version":
			return fmt.Errorf("%s: module %q: registry modules are not supported here", a.SrcRange, name)
		default:
			c.Args[an] = a
		}
	}
	if c.Source == "" {
		return fmt.Errorf("%s: module %q has no source", b.DefRange(), name)
	}
	m.Calls[name] = c
	return nil
}

func (m *Module) addOutput(b *hclsyntax.Block) error {
	name, err := label(b, 1)
	if err != nil {
		return err
	}
	if m.Outputs[name] != nil {
		return fmt.Errorf("%s: duplicate output %q", b.DefRange(), name)
	}
	o := &Output{Name: name}
	for an, a := range b.Body.Attributes {
		switch an {
		case "value":
			o.Value = a.Expr
		case "description":
			if o.Description, err = stringAttr(b.Body, an); err != nil {
				return err
			}
		case "sensitive", "depends_on", "ephemeral":
		default:
			return fmt.Errorf("%s: output %q: unsupported argument %q", a.SrcRange, name, an)
		}
	}
	if o.Value == nil {
		return fmt.Errorf("%s: output %q has no value", b.DefRange(), name)
	}
	m.Outputs[name] = o
	return nil
}

// LocalSource reports whether a module source is a local path, which Terraform reads in place.
func LocalSource(src string) bool {
	return strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../")
}
