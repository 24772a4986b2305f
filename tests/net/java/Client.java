import java.io.*;
import java.net.*;
import java.security.MessageDigest;
public class Client {
    public static void main(String[] a) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(a[0]).openConnection();
        c.setConnectTimeout(10000); c.setReadTimeout(20000);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        long n = 0;
        try (InputStream in = c.getInputStream()) {
            byte[] b = new byte[65536]; int k;
            while ((k = in.read(b)) > 0) { md.update(b, 0, k); n += k; }
        }
        StringBuilder sb = new StringBuilder();
        for (byte x : md.digest()) sb.append(String.format("%02x", x));
        System.out.println(sb + " " + n);
    }
}
