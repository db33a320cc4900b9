import CRMServer
import Testing

/// What `metrics_listen` accepts: loopback addresses only.
@Suite struct MetricsListenerTests {
    @Test(arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464), ("127.1.2.3:1", "127.1.2.3", 1), ("[::1]:9464", "::1", 9464),
        ("localhost:0", "localhost", 0),
    ])
    func acceptsLoopbackAddresses(_ text: String, _ host: String, _ port: Int) throws {
        let endpoint = try MetricsListener.Endpoint(parsing: text)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
        #expect(endpoint.description == text)
    }

    @Test(arguments: ["0.0.0.0:9464", "10.0.0.1:9464", "[::]:9464", "[::2]:1", "crm.example:9464", "128.0.0.1:80"])
    func refusesOtherAddresses(_ text: String) {
        #expect {
            _ = try MetricsListener.Endpoint(parsing: text)
        } throws: { error in
            "\(error)".contains("is not a loopback address")
        }
    }

    @Test(arguments: ["", "127.0.0.1", ":9464", "127.0.0.1:", "127.0.0.1:65536", "[::1]", "[::1]9464", "localhost:x"])
    func refusesMalformedValues(_ text: String) {
        #expect {
            _ = try MetricsListener.Endpoint(parsing: text)
        } throws: { error in
            "\(error)".contains("is not HOST:PORT")
        }
    }
}
