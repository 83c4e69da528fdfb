import Testing
@testable import CachekitCore

/// Expectations from CPython 3.11's `str(uuid.UUID(text))` (nil where it raises); the Python
/// suite (test_abi_deployment_uuid.py) checks the library against the live interpreter too.
@Suite struct DeploymentUUIDTests {
    static let canonical = "123e4567-e89b-12d3-a456-426614174000"

    @Test(arguments: [
        ("123e4567-e89b-12d3-a456-426614174000", canonical),
        ("123E4567-E89B-12D3-A456-426614174000", canonical),
        ("123e4567e89b12d3a456426614174000", canonical),
        ("{123e4567-e89b-12d3-a456-426614174000}", canonical),
        ("{{123e4567e89b12d3a456426614174000}}", canonical),
        ("{123e4567e89b12d3a456426614174000", canonical),
        ("urn:uuid:123e4567-e89b-12d3-a456-426614174000", canonical),
        ("urn:urn:uuid:123e4567e89b12d3a456426614174000", canonical),
        ("uuid:123e4567e89b12d3a456426614174000", canonical),
        ("1-2-3e4567e89b12d3a45642661417400-0", canonical),
        (" 23e4567e89b12d3a45642661417400 ", "0023e456-7e89-b12d-3a45-642661417400"),
        ("+23e4567e89b12d3a45642661417400a", "023e4567-e89b-12d3-a456-42661417400a"),
        ("0x3e4567e89b12d3a45642661417400a", "003e4567-e89b-12d3-a456-42661417400a"),
        ("0X3e4567e89b12d3a45642661417400a", "003e4567-e89b-12d3-a456-42661417400a"),
        ("0x_e4567e89b12d3a45642661417400a", "000e4567-e89b-12d3-a456-42661417400a"),
        ("1_3e4567e89b12d3a45642661417400a", "013e4567-e89b-12d3-a456-42661417400a"),
    ] as [(String, String)])
    func acceptsWhatPythonAccepts(form: String, expected: String) {
        #expect(DeploymentUUID.canonical(form) == expected)
        #expect(DeploymentUUID.isCanonical(form) == (form == expected))
    }

    @Test(arguments: [
        "", "not-a-uuid", "_23e4567e89b12d3a45642661417400a", "1__e4567e89b12d3a45642661417400a",
        "123e4567e89b12d3a45642661417400_", "123e4567-e89b-12d3-a456-42661417400",
        "123e4567-e89b-12d3-a456-4266141740000", "g23e4567e89b12d3a456426614174000",
        "ur{n:123e4567e89b12d3a456426614174000", "++23e4567e89b12d3a45642661417400a",
        "  23e4567e89b12d3a4564266141740  ",
        "123e4567e89b12d3a45642661417\u{0660}000",  // Python takes the Arabic-Indic digit; refused here
    ])
    func refusesTheRest(form: String) {
        #expect(DeploymentUUID.canonical(form) == nil)
    }

    @Test func theConfigStoresTheCanonicalFormAndInteropRefusesOthers() throws {
        let config = CacheConfig()
        try config.set("deployment_uuid", "{123E4567E89B12D3A456426614174000}")
        #expect(config.tenant == Self.canonical)
        #expect(!config.deploymentUUIDWasCanonical)
        try config.set("mode", "interop")
        try config.set("master_key", String(repeating: "ab", count: 32))
        #expect(throws: CachekitError.self) { _ = try Cache(config: config) { _ in nil } }
        try config.set("deployment_uuid", Self.canonical)
        _ = try Cache(config: config) { _ in nil }
    }
}
