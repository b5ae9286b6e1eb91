package identity

// EvolutionPolicy gives the fraction of reputation an identity keeps across
// each kind of change (EvolutionPolicy, §5.5).
type EvolutionPolicy struct {
	MinorUpdate         float64
	ModelVersionChange  float64
	ModelFamilyChange   float64
	OperatorTransfer    float64
	CapabilityExpansion float64
	CapabilityReduction float64
	FullRebuild         float64
}

// DefaultPolicy returns the reference's DEFAULT_EVOLUTION_POLICY.
func DefaultPolicy() EvolutionPolicy {
	return EvolutionPolicy{
		MinorUpdate:         0.95,
		ModelVersionChange:  0.80,
		ModelFamilyChange:   0.20,
		OperatorTransfer:    0.50,
		CapabilityExpansion: 0.90,
		CapabilityReduction: 1.00,
		FullRebuild:         0.00,
	}
}

// ComputeCarryForward returns the reputation carry-forward rate for a change
// of type ct from current with updates u (computeCarryForward, §5.5):
//
//   - created: 1;
//   - model_update: MinorUpdate without a new model, ModelVersionChange when
//     the new model has the same provider and modelId, else ModelFamilyChange;
//   - capability_change: MinorUpdate without new capabilities,
//     CapabilityExpansion when capabilities were only added,
//     CapabilityReduction when only removed, otherwise the lower of the two;
//   - operator_transfer and fork: OperatorTransfer;
//   - merge: the lower of CapabilityExpansion and ModelVersionChange;
//   - anything else: FullRebuild.
func ComputeCarryForward(ct ChangeType, current *Identity, u Updates, p EvolutionPolicy) float64 {
	switch ct {
	case Created:
		return 1
	case ModelUpdate:
		if u.Model == nil {
			return p.MinorUpdate
		}
		if current != nil && u.Model.Provider == current.Model.Provider && u.Model.ModelID == current.Model.ModelID {
			return p.ModelVersionChange
		}
		return p.ModelFamilyChange
	case CapabilityChange:
		if u.Capabilities == nil {
			return p.MinorUpdate
		}
		var cur []string
		if current != nil {
			cur = current.Capabilities
		}
		added := countMissing(u.Capabilities, cur)
		removed := countMissing(cur, u.Capabilities)
		switch {
		case added > 0 && removed == 0:
			return p.CapabilityExpansion
		case removed > 0 && added == 0:
			return p.CapabilityReduction
		default:
			return min(p.CapabilityExpansion, p.CapabilityReduction)
		}
	case OperatorTransfer, Fork:
		return p.OperatorTransfer
	case Merge:
		return min(p.CapabilityExpansion, p.ModelVersionChange)
	default:
		return p.FullRebuild
	}
}

// countMissing counts the elements of a (with repetition) that are not in b.
func countMissing(a, b []string) int {
	set := make(map[string]struct{}, len(b))
	for _, s := range b {
		set[s] = struct{}{}
	}
	n := 0
	for _, s := range a {
		if _, ok := set[s]; !ok {
			n++
		}
	}
	return n
}
