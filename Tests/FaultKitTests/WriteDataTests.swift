import FaultKit
import Testing

@Suite("Stamped data")
struct WriteDataTests {
  @Test("fill, a unit at a time, gives the bytes byte(at:) gives, at every alignment and length")
  func fillEqualsBytes() {
    let w = WriteData(file: 0xA1B2_C3D4, generation: 0x12_3456, pattern: 0xE7)
    for offset in [0, 1, 7, 15, 16, 17, 4095, 1 << 40] as [UInt64] {
      for count in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
        let fast = w.bytes(at: offset, count: count)
        let slow = (0..<count).map { w.byte(at: offset + UInt64($0)) }
        #expect(fast == slow, "offset \(offset) count \(count)")
      }
    }
  }

  @Test("the generation keeps its low 24 bits, as faultline.h's fl_stamp_byte does")
  func generationBits() {
    let w = WriteData(file: 1, generation: 0xFF12_3456, pattern: 0)
    #expect(w.bytes(at: 0, count: 16)[12...14] == [0x56, 0x34, 0x12])
    #expect((12..<15).map { w.byte(at: UInt64($0)) } == [0x56, 0x34, 0x12])
  }
}
