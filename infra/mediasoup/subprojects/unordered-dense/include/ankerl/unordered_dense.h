// mediasoup >= 3.21 uses ankerl::unordered_dense (map, set, hash), which is not packaged for
// Debian bookworm nor shipped in any npm package. Abseil's Swiss tables (Debian's libabsl-dev;
// mediasoup <= 3.19 used them for the same maps) cover the API mediasoup calls, so the names are
// aliased onto them. Iteration order and iterator stability are unspecified in both.
#ifndef MERIDIAN_ANKERL_UNORDERED_DENSE_COMPAT_H
#define MERIDIAN_ANKERL_UNORDERED_DENSE_COMPAT_H

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <utility>

namespace ankerl::unordered_dense
{
	template<class T>
	struct hash
	{
		uint64_t operator()(const T& value) const noexcept
		{
			return static_cast<uint64_t>(absl::Hash<T>{}(value));
		}
	};

	// unordered_dense's erase(iterator) returns the next iterator; Abseil's returns void. Erasing
	// from a Swiss table never moves other elements, so the successor taken first stays valid.
	template<class Base>
	class EraseReturnsNext : public Base
	{
	public:
		using Base::Base;
		using Base::erase;
		using iterator       = typename Base::iterator;

		iterator erase(iterator it)
		{
			auto next = std::next(it);
			Base::erase(it);
			return next;
		}

	};

	template<
	  class Key,
	  class T,
	  class Hash      = hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<std::pair<const Key, T>>>
	using map = EraseReturnsNext<absl::flat_hash_map<Key, T, Hash, KeyEqual, Allocator>>;

	template<class Key, class Hash = hash<Key>, class KeyEqual = std::equal_to<Key>, class Allocator = std::allocator<Key>>
	using set = EraseReturnsNext<absl::flat_hash_set<Key, Hash, KeyEqual, Allocator>>;
} // namespace ankerl::unordered_dense

#endif
