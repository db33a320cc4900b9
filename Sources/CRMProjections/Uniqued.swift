extension Array where Element: Hashable {
    /// The elements without repeats, each where it first occurs. An event names a handful of ids, for
    /// which comparing them costs less than hashing them into a set; a longer list is hashed.
    func uniqued() -> [Element] {
        guard self.count > 1 else { return self }
        guard self.count > 16 else {
            var unique: [Element] = []
            unique.reserveCapacity(self.count)
            for element in self where !unique.contains(element) { unique.append(element) }
            return unique
        }
        var seen = Set<Element>()
        seen.reserveCapacity(self.count)
        return self.filter { seen.insert($0).inserted }
    }
}
