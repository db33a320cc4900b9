/// `crm-bench`: load generator and replay benchmark (being written).
@main
struct CRMBench {
    static func main() {
        print("crm-bench: not implemented yet")
    }
}
