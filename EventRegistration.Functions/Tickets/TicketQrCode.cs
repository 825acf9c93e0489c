using QRCoder;

namespace EventRegistration.Functions.Tickets;

/// <summary>The ticket token as a PNG QR code (QRCoder's PngByteQRCode: no System.Drawing).</summary>
public static class TicketQrCode
{
    /// <summary>Medium error correction survives a scratched phone screen; 10 px modules keep the PNG small but sharp.</summary>
    public static byte[] RenderPng(string token)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(token, QRCodeGenerator.ECCLevel.M);
        return new PngByteQRCode(data).GetGraphic(pixelsPerModule: 10);
    }
}
