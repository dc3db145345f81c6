//===- MilmTypes.td - milm types ---------------------------*- tablegen -*-===//
#ifndef MILM_TYPES_TD
#define MILM_TYPES_TD

include "MilmAttrs.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinTypeInterfaces.td"

class Milm_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Milm_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def Milm_WeightType : Milm_Type<"Weight", "weight"> {
  let summary = "a weight of a given shape and storage format";
  let description = [{
    The type of a weight referenced by `milm.weight`: its static shape
    (row-major, outermost first) and the format its elements are stored in.
    Plain formats: `f32`, `f16`, `bf16`. Block formats, with GGUF's exact bit
    layouts: `q8_0`, `q4_0`, `q4_1`, `q5_0`, `q5_1` (blocks of 32 values) and
    `q4_k`, `q5_k`, `q6_k` (super-blocks of 256 values). The innermost
    dimension of a block-format weight must be a multiple of the block size.

    ```mlir
    !milm.weight<512x256xq4_0>   // a linear weight: 512 outputs, 256 inputs
    !milm.weight<256xf32>        // a norm weight
    !milm.weight<4x512x256xq6_k> // 4 experts' weights stacked
    ```
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t", "shape, outermost first">:$shape,
    "::mlir::milm::WeightFormat":$format
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Values per block of the format (1 for plain formats).
    int64_t getBlockSize() const;
    /// Bytes per block of the format.
    int64_t getBlockBytes() const;
    /// Bytes the weight occupies in its storage format.
    uint64_t getSizeInBytes() const;
    int64_t getRank() const { return getShape().size(); }
    int64_t getNumElements() const;
  }];
}

def Milm_KVCacheType : Milm_Type<"KVCache", "kv_cache"> {
  let summary = "the key/value cache of every attention layer of a model";
  let description = [{
    Keys and values of `layers` attention layers, each holding up to
    `capacity` positions of `kv_heads` heads of `head_dim` values, stored as
    `element`. Attention ops read the cache and append the new tokens' keys
    and values to it at their positions. Layers one after the other, each
    its keys then its values, `[capacity][kv heads][head_dim]` each.

    When layers have different KV head counts (a model pruned by
    `milm-prune-transact` with `kv-heads`), `layer_kv_heads` holds one entry
    per layer and `kv_heads` is the largest; a layer's slice then starts
    after the slices of the layers before it.

    ```mlir
    !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
    !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16,
                   layer_kv_heads = [2, 1]>
    ```
  }];
  let parameters = (ins
    "int64_t":$layers,
    "int64_t":$kv_heads,
    "int64_t":$head_dim,
    "int64_t":$capacity,
    "::mlir::Type":$element,
    Milm_LayerSizes<"per-layer KV heads (empty: kv_heads in every layer)">:$layer_kv_heads
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Layer `layer`'s KV heads.
    int64_t kvHeadsAt(int64_t layer) const;
    /// Bytes of layer `layer`'s keys and values, and where they start.
    uint64_t layerBytes(int64_t layer) const;
    uint64_t layerOffset(int64_t layer) const;
    /// Bytes of the whole cache.
    uint64_t totalBytes() const;
  }];
}

#endif // MILM_TYPES_TD
