package fieldpath

import (
	"bytes"
	"fmt"
	"sort"

	smd "sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// Owned is what one managedFields entry owns, in this package's notation.
type Owned struct {
	// Paths are the owned fields, sorted, without duplicates. A member of a
	// set-like list (metadata.finalizers, v:"x") is owned as the list.
	Paths []string
	// ListKeys maps an associative list's path to its key field names, as
	// the API server keys it (containers by name, ports by port and
	// protocol).
	ListKeys map[string][]string
}

// FromFieldsV1 converts one managedFields[].fieldsV1 document.
func FromFieldsV1(raw []byte) (Owned, error) {
	var s smd.Set
	if err := s.FromJSON(bytes.NewReader(raw)); err != nil {
		return Owned{}, fmt.Errorf("parse fieldsV1: %w", err)
	}
	seen := map[string]bool{}
	o := Owned{ListKeys: map[string][]string{}}
	s.Iterate(func(p smd.Path) {
		cur := ""
		for _, pe := range p {
			switch {
			case pe.FieldName != nil:
				cur = Field(cur, *pe.FieldName)
			case pe.Key != nil:
				key := make([]KeyField, 0, len(*pe.Key))
				names := make([]string, 0, len(*pe.Key))
				for _, f := range *pe.Key {
					key = append(key, KeyField{Name: f.Name, Value: scalar(f.Value)})
					names = append(names, f.Name)
				}
				if _, ok := o.ListKeys[cur]; !ok {
					sort.Strings(names)
					o.ListKeys[cur] = names
				}
				cur = Key(cur, key)
			case pe.Index != nil:
				cur = Index(cur, *pe.Index)
			case pe.Value != nil:
				// A set member: the list is the field.
				goto done
			}
		}
	done:
		if cur != "" && !seen[cur] {
			seen[cur] = true
			o.Paths = append(o.Paths, cur)
		}
	})
	sort.Strings(o.Paths)
	return o, nil
}

func scalar(v value.Value) any {
	switch {
	case v == nil || v.IsNull():
		return nil
	case v.IsString():
		return v.AsString()
	case v.IsInt():
		return v.AsInt()
	case v.IsFloat():
		return v.AsFloat()
	case v.IsBool():
		return v.AsBool()
	}
	return value.ToString(v)
}
